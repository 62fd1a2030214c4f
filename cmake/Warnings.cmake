# SPDX-License-Identifier: Apache-2.0
# One INTERFACE target carries the warning set; every target of ours links it.
add_library(pdd_warnings INTERFACE)
target_compile_options(pdd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror=vla
  # Designated initialisers that leave members at their defaults are house style (STYLE §3);
  # GCC 12 warns about them under -Wextra.
  -Wno-missing-field-initializers)
if(PDNS_DISTRIBUTE_WERROR)
  target_compile_options(pdd_warnings INTERFACE -Werror)
endif()
