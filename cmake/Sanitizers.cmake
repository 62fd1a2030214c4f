# SPDX-License-Identifier: Apache-2.0
# ASan + UBSan for every target when PDNS_DISTRIBUTE_SANITIZE is on (CI runs the unit tests so).
add_library(pdd_sanitizers INTERFACE)
if(PDNS_DISTRIBUTE_SANITIZE)
  target_compile_options(pdd_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(pdd_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
