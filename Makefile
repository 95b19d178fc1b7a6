# The candidates service: build, run and test.
#
#   make            build build/candidates (optimised)
#   make run        install what is missing, build, serve on 127.0.0.1:8080
#                   (WEB=nginx|lighttpd PORT=8080 STORE=sqlite|dynamodb;
#                   RUNDIR=var gets the SQLite file, the socket, the pids
#                   and the rendered web server configuration)
#   make test       install what is missing, run every check
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
DESTDIR	?=
WEB	?= nginx
STORE	?= sqlite
PORT	?= 8080
RUNDIR	?= var

CC	?= cc
PKGS	 = fcgi json-c sqlite3 libcurl openssl
WARN	 = -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	   -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -D_GNU_SOURCE

# pkg-config for every library. The flags are read quietly, once, so that
# `make clean`, `make deps` and `make test` work on a machine without the
# -dev packages yet (`make test` installs them, then re-reads this file).
# Each rule that compiles checks its packages first ($(call need,...)),
# so a missing one stops the build with the Debian package to install
# instead of a compiler error about a header far away.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
DEB_fcgi      = libfcgi-dev
DEB_json-c    = libjson-c-dev
DEB_sqlite3   = libsqlite3-dev
DEB_libcurl   = libcurl4-openssl-dev
DEB_openssl   = libssl-dev
DEB_libcrypto = libssl-dev
DEB_cmocka    = libcmocka-dev
need = @$(foreach p,$(sort $(PKGS) $(1)),pkg-config --exists $(p) || { echo \
	"make: pkg-config finds no $(p): install the Debian package" \
	"$(DEB_$(p)) (make deps-test installs them all)" >&2; exit 1; };) :
CFLAGS	?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) $(PKG_CFLAGS) -pthread -fstack-protector-strong
SAN	 = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer

SRCS	:= $(wildcard fcgi-app/*.c)
LIBSRCS	:= $(filter-out fcgi-app/main.c,$(SRCS))
UNITS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

# The cloud stores are modules, build/store_<name>.so, that the app loads
# only when CANDIDATES_STORE names one (fcgi-app/store.c): libcurl and
# OpenSSL, with the thirty-odd libraries Debian builds libcurl against,
# would cost every SQLite server megabytes of relocated pages. The app
# links the rest and exports its functions (-rdynamic) to the modules.
# Each build of the app comes with its modules, beside it.
MODULES	 = dynamodb
MOD_SRCS_dynamodb = $(addprefix fcgi-app/,sigv4.c aws_creds.c aws_imds.c \
	   http_client.c dynamo_wire.c store_dynamodb.c)
MOD_PKGS_dynamodb = json-c libcurl libcrypto
APP_SRCS := $(filter-out $(foreach m,$(MODULES),$(MOD_SRCS_$(m))),$(SRCS))
APP_PKGS  = fcgi json-c sqlite3
APP_LIBS := $(shell pkg-config --libs $(APP_PKGS) 2>/dev/null) -ldl

# Debian packages: building, running, and testing.
DEPS_BUILD = build-essential pkg-config libfcgi-dev libjson-c-dev \
	     libsqlite3-dev libcurl4-openssl-dev libssl-dev
DEPS_RUN   = nginx lighttpd spawn-fcgi curl
DEPS_TEST  = libcmocka-dev clang nodejs:node npm:npm shellcheck valgrind \
	     libclang-rt-14-dev sqlite3 packer debootstrap openssl:openssl \
	     haproxy iproute2:ip
DEPS_BENCH = wrk gnuplot-nox nodejs:node

.PHONY: all run test check clang install clean deps deps-test unit e2e bench \
	fuzz fuzz-quick leak soak fleet fleet-quick \
	deploy-aws check-env-aws validate load destroy-aws

all: build/candidates

build/candidates: $(APP_SRCS) fcgi-app/*.h Makefile \
    $(MODULES:%=build/store_%.so)
	$(call need)
	@mkdir -p build
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -rdynamic -o $@ $(APP_SRCS) \
	    $(APP_LIBS) -pthread

# The same program under AddressSanitizer and UndefinedBehaviorSanitizer,
# which every end-to-end test runs.
build/san/candidates: $(APP_SRCS) fcgi-app/*.h Makefile \
    $(MODULES:%=build/san/store_%.so)
	$(call need)
	@mkdir -p build/san
	$(CC) $(CPPFLAGS) $(WARN) $(SAN) $(PKG_CFLAGS) -pthread -rdynamic -o $@ \
	    $(APP_SRCS) $(APP_LIBS) -pthread

.SECONDEXPANSION:
build/store_%.so: $$(MOD_SRCS_$$*) fcgi-app/*.h Makefile
	$(call need,$(MOD_PKGS_$*))
	@mkdir -p build
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -shared -o $@ $(MOD_SRCS_$*) \
	    $$(pkg-config --libs $(MOD_PKGS_$*)) -pthread

build/san/store_%.so: $$(MOD_SRCS_$$*) fcgi-app/*.h Makefile
	$(call need,$(MOD_PKGS_$*))
	@mkdir -p build/san
	$(CC) $(CPPFLAGS) $(WARN) $(SAN) $(PKG_CFLAGS) -pthread -fPIC -shared \
	    -o $@ $(MOD_SRCS_$*) $$(pkg-config --libs $(MOD_PKGS_$*)) -pthread

build/san/test_%: tests/unit/test_%.c $(LIBSRCS) fcgi-app/*.h tests/unit/*.h Makefile
	$(call need,cmocka)
	@mkdir -p build/san
	$(CC) $(CPPFLAGS) $(WARN) $(SAN) $(PKG_CFLAGS) -Ifcgi-app -pthread -o $@ \
	    $< $(LIBSRCS) $(PKG_LIBS) $(CMOCKA_LIBS) -pthread

# The app, its modules and the unit tests built by clang, warnings as
# errors, so `make test` proves the code clean on both compilers (the fuzz
# build covers only the library). Objects, each compiled once.
CLANG	 = clang
clang_objs = $(patsubst fcgi-app/%.c,build/clang/obj/%.o,$(1))
.SECONDARY: $(call clang_objs,$(SRCS))

clang: build/clang/candidates $(MODULES:%=build/clang/store_%.so) \
    $(addprefix build/clang/,$(UNITS))

build/clang/obj/%.o: fcgi-app/%.c fcgi-app/*.h Makefile
	$(call need)
	@mkdir -p build/clang/obj
	$(CLANG) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -c -o $@ $<

build/clang/candidates: $(call clang_objs,$(APP_SRCS))
	$(CLANG) $(ALL_CFLAGS) -rdynamic -o $@ $^ $(APP_LIBS) -pthread

build/clang/store_%.so: $$(call clang_objs,$$(MOD_SRCS_$$*))
	$(call need,$(MOD_PKGS_$*))
	$(CLANG) $(ALL_CFLAGS) -shared -o $@ $^ \
	    $$(pkg-config --libs $(MOD_PKGS_$*)) -pthread

build/clang/test_%: tests/unit/test_%.c tests/unit/*.h fcgi-app/*.h Makefile \
    $(call clang_objs,$(LIBSRCS))
	$(call need,cmocka)
	$(CLANG) $(CPPFLAGS) $(ALL_CFLAGS) -Ifcgi-app -o $@ $< \
	    $(call clang_objs,$(LIBSRCS)) $(PKG_LIBS) $(CMOCKA_LIBS) -pthread

deps:
	@tests/deps.sh $(DEPS_BUILD) $(DEPS_RUN) $(RUN_DEPS_$(STORE))

deps-test:
	@tests/deps.sh $(DEPS_BUILD) $(DEPS_RUN) $(DEPS_TEST)

# `make run STORE=dynamodb`: the same stack against a local DynamoDB
# (dynalite behind the tests' SigV4-checking HTTPS proxy, and a fake IMDS),
# started first and stopped last by tests/lib/local-dynamodb.js.
RUN_DEPS_dynamodb  = nodejs:node npm:npm openssl:openssl
RUN_NEEDS_dynamodb = tests/node_modules/.stamp
RUN_WRAP_dynamodb  = node tests/lib/local-dynamodb.js --dir $(RUNDIR) --

run: deps build/candidates $(RUN_NEEDS_$(STORE))
	$(RUN_WRAP_$(STORE)) tests/stack.sh --web $(WEB) --port $(PORT) --dir $(RUNDIR) --app build/candidates

unit: $(addprefix build/san/,$(UNITS))
	@set -e; for t in $(UNITS); do echo "== $$t"; build/san/$$t; done

# build/candidates: e2e/make.test.js runs `make run` and `make install`.
e2e: build/san/candidates build/candidates tests/node_modules/.stamp
	cd tests && node --test --test-concurrency=1 e2e/

tests/node_modules/.stamp: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@touch $@

test: deps-test
	$(MAKE) check

# Everything test runs, once the packages are there.
check: unit clang e2e fuzz-quick leak fleet-quick

install: build/candidates
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/candidates
	install -m 0755 build/candidates $(DESTDIR)$(PREFIX)/bin/candidates
	install -m 0644 $(MODULES:%=build/store_%.so) \
	    $(DESTDIR)$(PREFIX)/lib/candidates/

# Speed, server CPU per request and memory against nginx's own ceiling and
# the bare FastCGI floor (tests/bench/). Never part of `make test`: it takes
# about 17 minutes and wants a quiet machine. BENCH_QUICK=1 for a short pass.
bench:
	@tests/deps.sh $(DEPS_BUILD) $(DEPS_RUN) $(DEPS_BENCH)
	$(MAKE) build/candidates build/bench/hello build/bench/bound
	node tests/bench/bench.js

build/bench/bound: tests/bench/bound.c Makefile
	@mkdir -p build/bench
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $<

build/bench/hello: tests/bench/hello.c Makefile
	$(call need)
	@mkdir -p build/bench
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $$(pkg-config --libs fcgi) -pthread

# libFuzzer harnesses (tests/fuzz/fuzz_*.c) for everything that reads
# untrusted bytes, under ASan+UBSan. The app's objects go into an archive,
# so each harness links, and reports coverage of, only what it reaches.
# libFuzzer's runtime is in libclang-rt-14-dev (a Recommends of clang).
FUZZ_CC	 = clang
FUZZERS	:= $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJS := $(patsubst fcgi-app/%.c,build/fuzz/obj/%.o,$(LIBSRCS))
FUZZ_SECONDS ?= 120
FUZZ_QUICK_SECONDS ?= 20

build/fuzz/obj/%.o: fcgi-app/%.c fcgi-app/*.h Makefile
	$(call need)
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(SAN) -fsanitize=fuzzer-no-link \
	    $(PKG_CFLAGS) -pthread -c -o $@ $<

build/fuzz/libcandidates.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $(FUZZ_OBJS)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/unit/memstore.h \
    build/fuzz/libcandidates.a
	$(call need)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(SAN) -fsanitize=fuzzer $(PKG_CFLAGS) \
	    -Ifcgi-app -pthread -o $@ $< build/fuzz/libcandidates.a \
	    $(PKG_LIBS) -pthread

# Each harness for FUZZ_SECONDS; `make test` runs each for 20 s.
fuzz: deps-test $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

fuzz-quick: $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_QUICK_SECONDS) $(FUZZERS)

# The shipped binary under valgrind behind nginx, on every route, on SQLite
# and DynamoDB (dynalite), ending with SIGTERM: no memory error, no leak.
leak: build/candidates tests/node_modules/.stamp
	cd tests && node --test soak/leak.test.js

# Steady load on every route through nginx, SOAK_SECONDS per store (SQLite,
# then DynamoDB on dynalite), loopback only: no unexpected answer, app RSS
# drift under 5 % after the warm-up. About 12 minutes; not in `make test`.
SOAK_SECONDS ?= 300
soak: deps-test build/candidates tests/node_modules/.stamp
	SOAK_SECONDS=$(SOAK_SECONDS) node tests/soak/soak.js

# Three instances of the stack in network namespaces behind HAProxy, on one
# dynalite: one stops and comes back, then the database stops
# (tests/fleet/fleet.js). Needs root for ip netns; skips itself without.
FLEET_PHASE_SECONDS ?= 10
fleet: deps-test build/candidates tests/node_modules/.stamp
	FLEET_PHASE_SECONDS=$(FLEET_PHASE_SECONDS) node tests/fleet/fleet.js

fleet-quick: build/candidates tests/node_modules/.stamp
	FLEET_PHASE_SECONDS=4 node tests/fleet/fleet.js

# AWS (infra/aws/README.md). validate and load also take make run's URL.
deploy-aws:
	WEB=$(WEB) infra/deploy.sh aws apply

check-env-aws:
	infra/deploy.sh aws check-env

validate:
	infra/deploy.sh aws validate $(URL)

load:
	infra/deploy.sh aws load $(URL)

destroy-aws:
	infra/deploy.sh aws destroy

clean:
	rm -rf build
