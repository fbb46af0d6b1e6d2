# Turns a text file into a C header holding it as a NUL-terminated array:
#   cmake -DIN=file.js -DOUT=file.h -DNAME=symbol -P embed.cmake
# vmactl embeds its HTML view's script this way, so that the page it
# writes is one self-contained file.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* Generated from ${IN} by embed.cmake; do not edit. */\n"
  "static const char ${NAME}[] = {\n${body}0x00};\n")
