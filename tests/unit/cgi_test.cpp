// Which command-line words a web server made of the query string.
#include "../../src/cgi.h"

#include <doctest/doctest.h>

using namespace healthcheck;
using Words = std::vector<std::string>;

TEST_CASE("a query without '=' passed as the command line is recognised as search words") {
  CHECK(AreCgiSearchWords(Words{"--listen", "127.0.0.1:9000"}, "--listen+127.0.0.1:9000"));
  CHECK(AreCgiSearchWords(Words{"--version"}, "--version"));
  // %-decoded, as the server decodes them.
  CHECK(AreCgiSearchWords(Words{"--config", "/tmp/x.json"}, "--config+%2Ftmp%2Fx.json"));
  CHECK(AreCgiSearchWords(Words{"--config=/etc/a b"}, "--config%3D/etc/a%20b"));
  // Apache escapes shell characters with a backslash.
  CHECK(AreCgiSearchWords(Words{"a\\;b"}, "a;b"));
  CHECK(AreCgiSearchWords(Words{"x", ""}, "x+"));
  // The server's word ends at a decoded NUL: "--help%00" reaches argv as "--help".
  CHECK(AreCgiSearchWords(Words{"--help"}, "--help%00"));
  CHECK(AreCgiSearchWords(Words{"--listen", "127.0.0.1:9"}, "--listen+127.0.0.1:9%00junk"));
}

TEST_CASE("flags a program was really given are kept") {
  CHECK_FALSE(AreCgiSearchWords(Words{"--config", "/etc/hc.json"}, nullptr));
  CHECK_FALSE(AreCgiSearchWords(Words{"--config", "/etc/hc.json"}, ""));
  // A wrapper's own flags with an unrelated query.
  CHECK_FALSE(AreCgiSearchWords(Words{"--config", "/etc/hc.json"}, "x"));
  CHECK_FALSE(AreCgiSearchWords(Words{"--config", "/etc/hc.json"}, "--config+/etc/other.json"));
  // With '=' a server passes no words.
  CHECK_FALSE(AreCgiSearchWords(Words{"a=b"}, "a=b"));
  CHECK_FALSE(AreCgiSearchWords(Words{}, "x"));
  // A broken escape stays as it is.
  CHECK(AreCgiSearchWords(Words{"%4"}, "%4"));
  CHECK(AreCgiSearchWords(Words{"%zz"}, "%zz"));
}
