# healthcheck: a clearskies-style health URL as a CGI/FastCGI responder.
# Targets: all deps run-deps test bench asan fuzz run install uninstall clean deb version.

CXX      ?= g++
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build

PKGS      := fcgi sqlite3
CXXFLAGS  ?= -O2 -g
WARNINGS  := -Wall -Wextra -Werror
# RapidJSON 1.1.0 warns under g++ 12 unless it is a system header; Debian's
# lives in /usr/include, which is one already (adding it with -isystem would
# break libstdc++'s #include_next).
# CPPFLAGS and LDFLAGS are empty here; a packager's (dpkg-buildflags:
# _FORTIFY_SOURCE, -z now) reach every compile and every link.
CPPFLAGS  ?=
LDFLAGS   ?=
ALL_CXXFLAGS := -std=c++17 $(WARNINGS) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -pthread
LDLIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lfcgi -lsqlite3) -pthread
# Linked statically by default: under plain CGI every request is a new
# process, and the dynamic loader's work for libstdc++, libsqlite3 and libfcgi
# made start-up 2.3x a minimal C CGI program's; static, it is below 1x (see
# bench/). The linker warns that libsqlite3's dlopen and libfcgi's
# gethostbyname need glibc at run time: we call neither (no SQLite
# extensions; we open our own sockets). STATIC=0 links dynamically.
# Position-independent all the same (-static-pie): the program faces a
# FastCGI socket, and libfcgi's defects (../shared/FASTCGI_NOTES.md) are
# easier to exploit at fixed addresses. Relocating itself at start costs a
# CGI request about 0.1 ms: 0.99 x a minimal C CGI program, against 0.85 x
# at fixed addresses (600 runs each, taking turns).
STATIC    ?= 1
ifeq ($(STATIC),1)
LINK_MODE := -static-pie
endif

# Debian packages (make deps / make run-deps install what is missing).
# The demo (make run): the build, nginx in front, spawn-fcgi when run as
# root (tools/serve_demo.py starts conf/spawn-fcgi.sh then), python3 for the
# script and its sqlite3 module, curl for the line it tells you to try.
# libmariadb-dev and libpq-dev: the mysql and postgresql drivers' programs.
BUILD_PACKAGES := g++ make pkg-config libfcgi-dev rapidjson-dev libsqlite3-dev \
                  libmariadb-dev libpq-dev
RUN_PACKAGES  := $(BUILD_PACKAGES) python3 nginx-light spawn-fcgi curl
# make deb: the build's packages, and Debian's package tools.
DEB_PACKAGES  := $(BUILD_PACKAGES) dpkg-dev debhelper
# Everything the tests need besides: every web server, doctest, clang for the fuzzers,
# the package tools (make deb, lintian, a throwaway root: tests/e2e/test_deb.py;
# mandoc, a second reader of the manual page),
# prometheus (and its promtool) to scrape and lint the metrics.
DEPS_PACKAGES := $(RUN_PACKAGES) libfcgi-bin doctest-dev clang libclang-rt-14-dev \
                 apache2 libapache2-mod-fcgid lighttpd haproxy python3-jsonschema \
                 mariadb-server mariadb-client postgresql openssl prometheus \
                 dpkg-dev debhelper lintian mmdebstrap man-db mandoc

LIB_SOURCES  := $(filter-out src/main.cpp src/drivers/%,$(wildcard src/*.cpp src/*/*.cpp))
LIB_OBJECTS  := $(LIB_SOURCES:%.cpp=$(BUILD)/%.o)
# The database drivers: each network driver goes into a program of its own
# (src/driver_handover.h), so healthcheck stays static and free of client
# libraries. src/drivers/linked_drivers.cpp says which drivers a program
# has; it is compiled once per program.
MYSQL_CFLAGS := $(shell mariadb_config --cflags 2>/dev/null || echo -I/usr/include/mariadb)
PQ_CFLAGS    := -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
DRIVER_PROGRAMS := $(BUILD)/healthcheck-mysql $(BUILD)/healthcheck-postgresql
TEST_SOURCES := $(wildcard tests/unit/*.cpp)
TEST_OBJECTS := $(TEST_SOURCES:%.cpp=$(BUILD)/%.o)

.PHONY: all deps run-deps test check unit-tests bench asan fuzz run install uninstall clean deb version

all: $(BUILD)/healthcheck $(DRIVER_PROGRAMS)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

$(BUILD)/src/drivers/mysql_cursor.o: ALL_CXXFLAGS += $(MYSQL_CFLAGS)
$(BUILD)/src/drivers/postgresql_cursor.o: ALL_CXXFLAGS += $(PQ_CFLAGS)
$(BUILD)/linked/sqlite.o: DRIVER_DEFINES :=
$(BUILD)/linked/mysql.o: DRIVER_DEFINES := -DHEALTHCHECK_WITH_MYSQL
$(BUILD)/linked/postgresql.o: DRIVER_DEFINES := -DHEALTHCHECK_WITH_POSTGRESQL
$(BUILD)/linked/all.o: DRIVER_DEFINES := -DHEALTHCHECK_WITH_MYSQL -DHEALTHCHECK_WITH_POSTGRESQL
$(BUILD)/linked/%.o: src/drivers/linked_drivers.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) $(DRIVER_DEFINES) -c $< -o $@

# Tests find the repository's files (conf/ examples) from here.
$(TEST_OBJECTS): ALL_CXXFLAGS += -DHEALTHCHECK_SOURCE_DIR='"$(CURDIR)"'

$(BUILD)/libhealthcheck.a: $(LIB_OBJECTS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/healthcheck: $(BUILD)/src/main.o $(BUILD)/linked/sqlite.o $(BUILD)/libhealthcheck.a
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $(LINK_MODE) $^ -o $@ $(LDLIBS) -lm

# The driver programs load libmariadb or libpq, and their authentication
# plugins, dynamically: a static program cannot load a plugin safely. The
# rest is static as in healthcheck, which leaves libc's loading as the
# only start-up cost a CGI request pays on top (see bench/).
ifeq ($(STATIC),1)
DRIVER_LINK := -static-libstdc++ -static-libgcc -Wl,-Bstatic -lfcgi -lsqlite3 -Wl,-Bdynamic
else
DRIVER_LINK := $(LDLIBS)
endif
$(BUILD)/healthcheck-mysql: $(BUILD)/src/main.o $(BUILD)/linked/mysql.o \
    $(BUILD)/src/drivers/mysql_cursor.o $(BUILD)/libhealthcheck.a
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $^ -o $@ $(DRIVER_LINK) -lmariadb -lm -pthread
$(BUILD)/healthcheck-postgresql: $(BUILD)/src/main.o $(BUILD)/linked/postgresql.o \
    $(BUILD)/src/drivers/postgresql_cursor.o $(BUILD)/libhealthcheck.a
	$(CXX) $(ALL_CXXFLAGS) $(LDFLAGS) $^ -o $@ $(DRIVER_LINK) -lpq -lm -pthread

$(BUILD)/unit_tests: $(TEST_OBJECTS) $(BUILD)/linked/all.o $(BUILD)/src/drivers/mysql_cursor.o \
    $(BUILD)/src/drivers/postgresql_cursor.o $(BUILD)/libhealthcheck.a
	$(CXX) $(ALL_CXXFLAGS) $^ -o $@ $(LDLIBS) -lmariadb -lpq

# Installs the Debian packages that are missing; does nothing when all are there.
deps:
	@sh tools/install_deps.sh $(DEPS_PACKAGES)

run-deps:
	@sh tools/install_deps.sh $(RUN_PACKAGES)

# Packages only the benchmarks need.
BENCH_PACKAGES := wrk php-fpm nginx-light php8.2-mysql php8.2-pgsql

unit-tests: $(BUILD)/unit_tests

# Every test, from nothing: packages, build, all suites, then the unit and
# integration suites again under AddressSanitizer + UBSan.
test: deps
	@$(MAKE) --no-print-directory -j2 check
	@$(MAKE) --no-print-directory -j2 asan

# All suites on what is installed: unit (doctest), integration (the real
# binary), end to end (real web servers).
check: $(BUILD)/healthcheck $(DRIVER_PROGRAMS) $(BUILD)/unit_tests
	python3 tests/run_tests.py --unit $(BUILD)/unit_tests --binary $(BUILD)/healthcheck

# Benchmarks against the baselines, as ratios from one run (see bench/README.md).
# BENCH_ARGS=--quick for a short run.
bench: deps all
	@$(MAKE) --no-print-directory deps DEPS_PACKAGES="$(BENCH_PACKAGES)"
	python3 bench/run_bench.py --binary $(BUILD)/healthcheck $(BENCH_ARGS)

# The demo: http://127.0.0.1:$(PORT)/health through nginx, on an SQLite
# database made under build/demo. Ctrl-C stops it. A busy port is refused
# before anything starts, with a free one to pass: make run PORT=8081
# (PORT in the environment works too).
# Only the demo's packages are installed, then the build (after them, even
# under -j2).
PORT ?= 8080
# Only digits reach the shell line (PORT='8080; rm ...' must not), and a
# PORT set but empty is the default.
DEMO_PORT := $(or $(PORT),8080)
DEMO_PORT_NON_DIGITS := $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(DEMO_PORT)))))))))))
ifneq ($(filter run,$(MAKECMDGOALS)),)
ifneq ($(DEMO_PORT_NON_DIGITS),)
$(error PORT=$(PORT): expected a port number, like PORT=8081)
endif
endif
run: run-deps
	@$(MAKE) --no-print-directory all
	python3 tools/serve_demo.py --binary $(BUILD)/healthcheck --folder $(BUILD)/demo --port $(DEMO_PORT)

# AddressSanitizer + UndefinedBehaviorSanitizer: build under build/asan and
# run the unit and integration suites against it.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
              -fno-omit-frame-pointer
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan STATIC=0 CXXFLAGS="$(ASAN_FLAGS)" \
	  build/asan/healthcheck build/asan/healthcheck-mysql build/asan/healthcheck-postgresql \
	  build/asan/unit_tests
	HEALTHCHECK_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1 \
	  python3 tests/run_tests.py --unit build/asan/unit_tests --binary build/asan/healthcheck \
	  --suite tests/integration

# libFuzzer (clang) on the configuration parser, the request-to-response
# path and the FastCGI byte stream through the real server, FUZZ_SECONDS each. libFuzzer writes new inputs into its first corpus
# folder, so that is a scratch copy under build/fuzz; the seeds stay as they are.
FUZZ_SECONDS ?= 20
FUZZERS      := config_fuzzer request_fuzzer fastcgi_fuzzer
# Undefined behaviour is a finding, not a printout; but for RapidJSON 1.1.0's
# harmless null-pointer arithmetic, which tests/fuzz/ubsan.supp silences.
FUZZ_FLAGS   := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -fsanitize-recover=pointer-overflow
fuzz:
	@mkdir -p build/fuzz
	@for f in $(FUZZERS); do \
	  echo "building $$f"; \
	  clang++ $(FUZZ_FLAGS) tests/fuzz/$$f.cpp $(LIB_SOURCES) src/drivers/linked_drivers.cpp -o build/fuzz/$$f $(LDLIBS) || exit 1; \
	done
	@for f in $(FUZZERS); do \
	  seeds=tests/fuzz/seeds/$${f%_fuzzer}; scratch=build/fuzz/corpus-$${f%_fuzzer}; \
	  mkdir -p $$scratch; \
	  UBSAN_OPTIONS=suppressions=tests/fuzz/ubsan.supp:print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
	  build/fuzz/$$f $$scratch $$seeds -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 || exit 1; \
	done

# The one place the version is written: what --version prints; the
# installed manual page and the package (tools/build_deb.sh, through
# `make version`) take it from there.
VERSION := $(shell sed -n 's/.*kVersion = "\(.*\)";/\1/p' src/version.h)
version:
	@echo $(VERSION)

DOC_DIR := $(DESTDIR)$(PREFIX)/share/doc/healthcheck
MAN_DIR := $(DESTDIR)$(PREFIX)/share/man/man1
# Stripped by default; a packager strips itself, to keep the debug symbols apart.
INSTALL_STRIP ?= -s
install: $(BUILD)/healthcheck $(DRIVER_PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DOC_DIR)/conf $(DOC_DIR)/nginx $(MAN_DIR)
	install -m 0755 $(INSTALL_STRIP) $(BUILD)/healthcheck $(DRIVER_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	sed 's/^\.TH HEALTHCHECK 1 \([^ ]*\) "healthcheck"/.TH HEALTHCHECK 1 \1 "healthcheck $(VERSION)"/' \
	  man/healthcheck.1 > $(MAN_DIR)/healthcheck.1
	chmod 0644 $(MAN_DIR)/healthcheck.1
	install -m 0644 README.md $(DOC_DIR)/README.md
	install -m 0644 conf/README.md conf/*.json conf/*.conf conf/*.cfg conf/*.socket \
	  conf/*.service $(DOC_DIR)/conf/
	install -D -m 0644 conf/shared-hosting/health/.htaccess $(DOC_DIR)/conf/shared-hosting/health/.htaccess
	install -m 0755 conf/spawn-fcgi.sh $(DOC_DIR)/conf/
	install -m 0644 nginx/* $(DOC_DIR)/nginx/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/healthcheck $(DESTDIR)$(PREFIX)/bin/healthcheck-mysql \
	  $(DESTDIR)$(PREFIX)/bin/healthcheck-postgresql $(MAN_DIR)/healthcheck.1
	rm -rf $(DOC_DIR)

clean:
	rm -rf $(BUILD)

# A Debian package, build/healthcheck_VERSION_ARCH.deb, built from debian/
# on a copy of the tree (tools/build_deb.sh says why).
deb:
	@sh tools/install_deps.sh $(DEB_PACKAGES)
	sh tools/build_deb.sh

-include $(LIB_OBJECTS:.o=.d) $(TEST_OBJECTS:.o=.d) $(BUILD)/src/main.d $(wildcard $(BUILD)/linked/*.d) \
  $(wildcard $(BUILD)/src/drivers/*.d)
