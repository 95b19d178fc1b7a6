# The candidates service: build, run and test.
#
#   make            build build/candidates (optimised)
#   make run        install what is missing, build, serve on 127.0.0.1:8080
#   make test       install what is missing, run every check
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
DESTDIR	?=
WEB	?= nginx
STORE	?= sqlite
PORT	?= 8080

CC	?= cc
PKGS	 = fcgi json-c sqlite3 libcurl openssl
WARN	 = -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	   -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -D_GNU_SOURCE
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS	?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) $(PKG_CFLAGS) -pthread -fstack-protector-strong
SAN	 = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer

SRCS	:= $(wildcard fcgi-app/*.c)
LIBSRCS	:= $(filter-out fcgi-app/main.c,$(SRCS))
UNITS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

# Debian packages: building, running, and testing.
DEPS_BUILD = build-essential pkg-config libfcgi-dev libjson-c-dev \
	     libsqlite3-dev libcurl4-openssl-dev libssl-dev
DEPS_RUN   = nginx lighttpd spawn-fcgi curl
DEPS_TEST  = libcmocka-dev clang nodejs:node npm:npm shellcheck valgrind

.PHONY: all run test install clean deps deps-test unit e2e

all: build/candidates

build/candidates: $(SRCS) fcgi-app/*.h Makefile
	@mkdir -p build
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $(SRCS) $(PKG_LIBS) -pthread

# The same program under AddressSanitizer and UndefinedBehaviorSanitizer,
# which every end-to-end test runs.
build/san/candidates: $(SRCS) fcgi-app/*.h Makefile
	@mkdir -p build/san
	$(CC) $(CPPFLAGS) $(WARN) $(SAN) $(PKG_CFLAGS) -pthread -o $@ $(SRCS) \
	    $(PKG_LIBS) -pthread

build/san/test_%: tests/unit/test_%.c $(LIBSRCS) fcgi-app/*.h tests/unit/*.h Makefile
	@mkdir -p build/san
	$(CC) $(CPPFLAGS) $(WARN) $(SAN) $(PKG_CFLAGS) -Ifcgi-app -pthread -o $@ \
	    $< $(LIBSRCS) $(PKG_LIBS) -lcmocka -pthread

deps:
	@tests/deps.sh $(DEPS_BUILD) $(DEPS_RUN)

deps-test:
	@tests/deps.sh $(DEPS_BUILD) $(DEPS_RUN) $(DEPS_TEST)

run: deps build/candidates
	tests/stack.sh --web $(WEB) --port $(PORT) --dir var --app build/candidates

unit: $(addprefix build/san/,$(UNITS))
	@set -e; for t in $(UNITS); do echo "== $$t"; build/san/$$t; done

e2e: build/san/candidates tests/node_modules/.stamp
	cd tests && node --test --test-concurrency=1 e2e/

tests/node_modules/.stamp: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@touch $@

test: deps-test
	$(MAKE) check

# Everything test runs, once the packages are there.
check: unit e2e

install: build/candidates
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 build/candidates $(DESTDIR)$(PREFIX)/bin/candidates

clean:
	rm -rf build
