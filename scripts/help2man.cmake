# Write a manual page from a program's --help text (cmake -P).
#
#   cmake -DPROG=path/to/prog -DNAME=prog -DSECTION=1 -DVERSION=x.y.z
#         -DOUT=prog.1 -P scripts/help2man.cmake
#
# The --help texts of vmad and its clients are laid out as manual pages
# already: headings in capitals at the left margin (NAME, SYNOPSIS, ...),
# bodies indented by four spaces. Each heading becomes .SH, and each body
# is kept as it is laid out (.nf), so that option tables stay aligned.
execute_process(COMMAND "${PROG}" --help OUTPUT_VARIABLE help
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROG} --help exited with ${rc}")
endif()
string(TOUPPER "${NAME}" upper)
set(man ".\\\" Generated from `${NAME} --help` by scripts/help2man.cmake.\n")
string(APPEND man ".TH ${upper} ${SECTION} \"\" \"vmad ${VERSION}\"\n")
# Split into lines without losing empty ones.
string(REPLACE ";" "\\;" help "${help}")
string(REPLACE "\n" ";" lines "${help}")
set(open FALSE)
foreach(line IN LISTS lines)
  if(line MATCHES "^[A-Z][A-Z ]*$")
    if(open)
      string(APPEND man ".fi\n")
    endif()
    string(APPEND man ".SH ${line}\n.nf\n")
    set(open TRUE)
    continue()
  endif()
  if(NOT open)
    continue()
  endif()
  # Four spaces of indent are the section's; the rest is layout.
  # (Not REGEX REPLACE: CMake applies "^" again after each match.)
  if(line MATCHES "^    ")
    string(SUBSTRING "${line}" 4 -1 line)
  endif()
  string(REPLACE "\\" "\\e" line "${line}")
  string(REGEX REPLACE "^([.'])" "\\\\&\\1" line "${line}")
  string(REPLACE "-" "\\-" line "${line}")
  # Leading blanks are layout too: unpaddable spaces keep them.
  if(line MATCHES "^( +)(.*)$")
    string(REPLACE " " "\\ " lead "${CMAKE_MATCH_1}")
    set(line "${lead}${CMAKE_MATCH_2}")
  endif()
  string(APPEND man "${line}\n")
endforeach()
if(open)
  string(APPEND man ".fi\n")
endif()
file(WRITE "${OUT}" "${man}")
