# SPDX-License-Identifier: Apache-2.0
# One INTERFACE target carries the warning set; every target of ours links it.
add_library(pdd_warnings INTERFACE)
target_compile_options(pdd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror=vla)
if(PDNS_DISTRIBUTE_WERROR)
  target_compile_options(pdd_warnings INTERFACE -Werror)
endif()
