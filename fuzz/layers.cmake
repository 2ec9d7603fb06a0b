# The transport-layer and telnet-option targets: PROXY header, TLS record
# feed, MCCP3 inflate, MSDP/NEW-ENVIRON, WebSocket handshake and frames, and
# a link's stack (PROXY then WebSocket) fed whole and split.
# fuzz/CMakeLists.txt includes this
# (when comm_protocol exists) after its own IOR_FUZZ_PROTOCOL_TARGETS list
# and before the loop that makes each target, linked with comm_protocol,
# and its corpus replay test.
list(APPEND IOR_FUZZ_PROTOCOL_TARGETS proxy_protocol msdp websocket stack reboot_state)
if(ZLIB_FOUND)
  list(APPEND IOR_FUZZ_PROTOCOL_TARGETS mccp3)
endif()
# comm/ decides TLS the same way; its result is not visible from here.
if(IOR_TLS)
  find_package(OpenSSL 3 QUIET)
  if(OPENSSL_FOUND)
    list(APPEND IOR_FUZZ_PROTOCOL_TARGETS tls_record)
  endif()
endif()
