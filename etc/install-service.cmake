# Included by `cmake --install` (see etc/CMakeLists.txt): writes the unit
# and the configuration file for the prefix CMAKE_INSTALL_PREFIX.

# GNUInstallDirs' rule for the absolute form of an install directory.
function(vmad_full_dir out dir kind)
  set(prefix "${CMAKE_INSTALL_PREFIX}")
  if(IS_ABSOLUTE "${dir}")
    set(full "${dir}")
  elseif(kind STREQUAL "SYSCONFDIR" AND
         (prefix STREQUAL "/" OR prefix STREQUAL "/usr"))
    set(full "/${dir}")
  elseif(kind STREQUAL "SYSCONFDIR" AND prefix MATCHES "^/opt/")
    set(full "/${dir}${prefix}")
  elseif(prefix STREQUAL "/")
    set(full "/${dir}")
  else()
    set(full "${prefix}/${dir}")
  endif()
  set(${out} "${full}" PARENT_SCOPE)
endfunction()

vmad_full_dir(VMAD_FULL_BINDIR "${VMAD_BINDIR}" BINDIR)
vmad_full_dir(VMAD_FULL_SYSCONFDIR "${VMAD_SYSCONFDIR}" SYSCONFDIR)
vmad_full_dir(VMAD_FULL_DOCDIR "${VMAD_DOCDIR}" DOCDIR)
vmad_full_dir(VMAD_FULL_UNITDIR "${VMAD_UNITDIR}" UNITDIR)

configure_file("${VMAD_ETC_SRC}/vmad.service.in"
  "${VMAD_ETC_BIN}/vmad.service" @ONLY)
file(INSTALL "${VMAD_ETC_BIN}/vmad.service"
  DESTINATION "${VMAD_FULL_UNITDIR}")

# The repository's vmad.conf holds the built-in defaults; the installed one
# sets what the service needs: its socket (required), the socket's group
# where the file has that option, and the state directory where spaces
# are kept (its StateDirectory).
file(READ "${VMAD_ETC_SRC}/vmad.conf" conf)
foreach(setting "socket=${VMAD_SERVICE_SOCKET}"
                "socket_group=${VMAD_SERVICE_GROUP}"
                "state_dir=${VMAD_SERVICE_STATE_DIR}")
  string(REPLACE "=" ";" kv "${setting}")
  list(GET kv 0 name)
  list(GET kv 1 value)
  if(conf MATCHES "\n${name} \"\"\n")
    string(REPLACE "\n${name} \"\"\n"
      "\n# Installed for the service (etc/vmad.service).\n${name} \"${value}\"\n"
      conf "${conf}")
  elseif(name STREQUAL "socket")
    message(FATAL_ERROR "etc/vmad.conf has no 'socket \"\"' line to set")
  endif()
endforeach()
file(WRITE "${VMAD_ETC_BIN}/vmad.conf" "${conf}")
set(confdir "$ENV{DESTDIR}${VMAD_FULL_SYSCONFDIR}/vmad")
if(EXISTS "${confdir}/vmad.conf")
  file(READ "${confdir}/vmad.conf" old)
  if(NOT old STREQUAL conf)
    message(STATUS "Keeping the edited ${confdir}/vmad.conf; "
      "the new one is vmad.conf.new")
    configure_file("${VMAD_ETC_BIN}/vmad.conf"
      "${VMAD_ETC_BIN}/vmad.conf.new" COPYONLY)
    file(INSTALL "${VMAD_ETC_BIN}/vmad.conf.new"
      DESTINATION "${VMAD_FULL_SYSCONFDIR}/vmad")
    return()
  endif()
endif()
file(INSTALL "${VMAD_ETC_BIN}/vmad.conf"
  DESTINATION "${VMAD_FULL_SYSCONFDIR}/vmad")
