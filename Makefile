# The candidates service: build, run and test.
#
#   make            build build/candidates (optimised)
#   make run        install what is missing, build, serve on 127.0.0.1:8080
#                   (WEB=nginx|lighttpd PORT=8080
#                   STORE=sqlite|dynamodb|cosmos|firestore; RUNDIR=var
#                   gets the SQLite file, the socket, the pids and the
#                   rendered web server configuration)
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

# Debian packages: building, running, and testing.
DEPS_BUILD = build-essential pkg-config libfcgi-dev libjson-c-dev \
	     libsqlite3-dev libcurl4-openssl-dev libssl-dev
DEPS_RUN   = nginx lighttpd spawn-fcgi curl
DEPS_TEST  = libcmocka-dev clang nodejs:node npm:npm shellcheck valgrind \
	     libclang-rt-14-dev sqlite3 packer debootstrap openssl:openssl \
	     haproxy iproute2:ip gnuplot-nox jq openjdk-17-jre-headless:java
DEPS_BENCH = wrk gnuplot-nox nodejs:node python3-boto3

.PHONY: all run test check clang install clean deps deps-test unit e2e bench \
	fuzz fuzz-quick leak soak fleet fleet-quick \
	deploy-aws check-env-aws destroy-aws deploy-azure check-env-azure \
	destroy-azure deploy-gcp check-env-gcp destroy-gcp validate load

all: build/candidates

# The C program: the core in fcgi-app/, each store in fcgi-app/stores/NAME/,
# and what every cloud store shares (HTTP client, retries, token cache) in
# fcgi-app/cloud/. SQLite is compiled in. A cloud store is a module,
# build/store_NAME.so, that the app loads only when CANDIDATES_STORE names
# it (fcgi-app/store.c): libcurl and OpenSSL, with the thirty-odd libraries
# Debian builds libcurl against, would cost every SQLite server megabytes of
# relocated pages. The app exports its functions (-rdynamic) to the modules.
# Adding a store: its folder, a line in store.c's list, and a line here.
STORES_IN = sqlite
MODULES	 = dynamodb
MODULES	+= cosmos
MODULES	+= firestore
MOD_PKGS = json-c libcurl libcrypto

HDRS	 := $(shell find fcgi-app -name '*.h')
CORE_SRCS := $(wildcard fcgi-app/*.c)
CLOUD_SRCS := $(wildcard fcgi-app/cloud/*.c)
store_srcs = $(wildcard fcgi-app/stores/$(1)/*.c)
APP_SRCS := $(CORE_SRCS) $(foreach s,$(STORES_IN),$(call store_srcs,$(s)))
# Everything but main(), every store's folder included: what unit tests
# and fuzzers link.
LIB_SRCS := $(filter-out fcgi-app/main.c,$(CORE_SRCS)) $(CLOUD_SRCS) \
	    $(wildcard fcgi-app/stores/*/*.c)
APP_PKGS  = fcgi json-c sqlite3
APP_LIBS := $(shell pkg-config --libs $(APP_PKGS) 2>/dev/null) -ldl

# Unit tests and fuzzers sit in the same folders under tests/unit/ and
# tests/fuzz/ as the code they test; each is named after its file.
UNIT_SRCS := $(shell find tests/unit -name 'test_*.c')
UNITS	  := $(patsubst test_%.c,test_%,$(notdir $(UNIT_SRCS)))
FUZZ_SRCS := $(shell find tests/fuzz -name 'fuzz_*.c')
FUZZERS	  := $(patsubst %.c,build/fuzz/%,$(notdir $(FUZZ_SRCS)))
TEST_HDRS := $(shell find tests/unit tests/fuzz -name '*.h')
vpath test_%.c $(sort $(dir $(UNIT_SRCS)))
vpath fuzz_%.c $(sort $(dir $(FUZZ_SRCS)))
INC	 = -Ifcgi-app -Itests/unit -Itests/fuzz

# Four builds ("flavours") of the same sources, each in its own folder with
# its own objects: the shipped one (build/), the one every test runs under
# AddressSanitizer and UndefinedBehaviorSanitizer (build/san/), clang's
# with warnings as errors (build/clang/, built by `make test` to prove the
# code clean on both compilers), and libFuzzer's (build/fuzz/). In each,
# the app sits beside the modules built the same way, and the objects of
# everything but main() make an archive that unit tests and fuzzers link,
# so each links only what it reaches.
CLANG	 = clang
FUZZ_CC	 = clang
SAN_CFLAGS = $(WARN) $(SAN) $(PKG_CFLAGS) -pthread
FLAVOURS = opt san clang fuzz
DIR_opt	 = build
CC_opt	 = $(CC)
CF_opt	 = $(ALL_CFLAGS)
DIR_san	 = build/san
CC_san	 = $(CC)
CF_san	 = $(SAN_CFLAGS)
DIR_clang = build/clang
CC_clang = $(CLANG)
CF_clang = $(ALL_CFLAGS)
DIR_fuzz = build/fuzz
CC_fuzz	 = $(FUZZ_CC)
CF_fuzz	 = $(SAN_CFLAGS) -fsanitize=fuzzer-no-link
objs	 = $(patsubst fcgi-app/%.c,$(DIR_$(1))/obj/%.o,$(2))

# Extra link flags of one unit test: test_sigv4 checks that nothing it
# frees still holds a secret, by wrapping free().
UNIT_LDFLAGS_sigv4 = -Wl,--wrap=free

.SECONDEXPANSION:
# The packages are checked once, before the first compile (and, for the
# tests, before anything of theirs is built).
build/.pkgs: Makefile
	$(call need)
	@mkdir -p build
	@touch $@

build/.pkgs-test: Makefile
	$(call need,cmocka)
	@mkdir -p build
	@touch $@

define flavour
$(DIR_$(1))/obj/%.o: fcgi-app/%.c $(HDRS) Makefile | build/.pkgs
	@mkdir -p $$(@D)
	$(CC_$(1)) $$(CPPFLAGS) $(CF_$(1)) -fPIC -Ifcgi-app -c -o $$@ $$<

$(DIR_$(1))/candidates: $(call objs,$(1),$(APP_SRCS)) \
    $(MODULES:%=$(DIR_$(1))/store_%.so)
	$(CC_$(1)) $(CF_$(1)) -rdynamic -o $$@ $(call objs,$(1),$(APP_SRCS)) \
	    $$(APP_LIBS) -pthread

$(DIR_$(1))/store_%.so: $(call objs,$(1),$(CLOUD_SRCS)) \
    $$$$(call objs,$(1),$$$$(call store_srcs,$$$$*))
	$$(call need,$$(MOD_PKGS))
	$(CC_$(1)) $(CF_$(1)) -shared -o $$@ $$(filter %.o,$$^) \
	    $$$$(pkg-config --libs $$(MOD_PKGS)) -pthread

$(DIR_$(1))/libcandidates.a: $(call objs,$(1),$(LIB_SRCS))
	rm -f $$@
	ar rcs $$@ $$^

$(DIR_$(1))/test_%: build/.pkgs-test test_%.c $(TEST_HDRS) \
    $(DIR_$(1))/libcandidates.a
	$(CC_$(1)) $$(CPPFLAGS) $(CF_$(1)) $(INC) -o $$@ $$(filter %.c,$$^) \
	    $(DIR_$(1))/libcandidates.a $$(PKG_LIBS) $$(CMOCKA_LIBS) \
	    $$(UNIT_LDFLAGS_$$*) -pthread
endef
$(foreach f,$(FLAVOURS),$(eval $(call flavour,$(f))))
.SECONDARY: $(foreach f,$(FLAVOURS),$(call objs,$(f),$(LIB_SRCS) \
    fcgi-app/main.c))

clang: build/clang/candidates $(MODULES:%=build/clang/store_%.so) \
    $(addprefix build/clang/,$(UNITS))

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
# `make run STORE=cosmos`: @vercel/cosmosdb-server behind the tests'
# signature-checking HTTPS proxy, and a fake Azure IMDS, started first and
# stopped last by tests/lib/local-cosmos.js; the app signs with a local
# account key.
RUN_DEPS_cosmos  = nodejs:node npm:npm openssl:openssl
RUN_NEEDS_cosmos = tests/node_modules/.stamp
RUN_WRAP_cosmos  = node tests/lib/local-cosmos.js --dir $(RUNDIR) --

# `make run STORE=firestore`: the same stack on Google's Firestore emulator
# (and a fake metadata server for the instance id), started first and
# stopped last by tests/lib/local-firestore.js, which needs nothing from
# npm. The emulator comes from Google's apt repository
# (google-cloud-cli-firestore-emulator); without it, one line says so.
RUN_DEPS_firestore = nodejs:node openjdk-17-jre-headless:java
RUN_WRAP_firestore = node tests/lib/local-firestore.js --dir $(RUNDIR) --

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

# libFuzzer harnesses (tests/fuzz/**/fuzz_*.c) for everything that reads
# untrusted bytes, under ASan+UBSan, each linking the fuzz flavour's
# archive, so it reaches, and reports coverage of, only what it uses.
# libFuzzer's runtime is in libclang-rt-14-dev (a Recommends of clang).
FUZZ_SECONDS ?= 120
FUZZ_QUICK_SECONDS ?= 20

build/fuzz/fuzz_%: fuzz_%.c $(TEST_HDRS) build/fuzz/libcandidates.a
	$(call need)
	$(FUZZ_CC) $(CPPFLAGS) $(SAN_CFLAGS) -fsanitize=fuzzer $(INC) -o $@ $< \
	    build/fuzz/libcandidates.a $(PKG_LIBS) -pthread

# Each harness for FUZZ_SECONDS; `make test` runs each for 20 s.
fuzz: deps-test $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

fuzz-quick: $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_QUICK_SECONDS) $(FUZZERS)

# The shipped binary under valgrind behind nginx, on every route, on SQLite,
# DynamoDB (dynalite), Cosmos DB (cosmosdb-server behind its proxy) and
# Firestore (Google's emulator, when installed), ending with SIGTERM: no
# memory error, no leak.
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

# The clouds (infra/<cloud>/README.md): deploy, check the tools and the
# account, take down. validate and load work on CLOUD's deployment (aws
# unless told), or on any URL=, such as make run's.
CLOUD	?= aws

deploy-aws:
	WEB=$(WEB) infra/deploy.sh aws apply

check-env-aws:
	infra/deploy.sh aws check-env

destroy-aws:
	infra/deploy.sh aws destroy

deploy-azure:
	WEB=$(WEB) infra/deploy.sh azure apply

check-env-azure:
	infra/deploy.sh azure check-env

destroy-azure:
	infra/deploy.sh azure destroy

deploy-gcp:
	WEB=$(WEB) infra/deploy.sh gcp apply

check-env-gcp:
	infra/deploy.sh gcp check-env

destroy-gcp:
	infra/deploy.sh gcp destroy

validate:
	infra/deploy.sh $(CLOUD) validate $(URL)

load:
	infra/deploy.sh $(CLOUD) load $(URL)

clean:
	rm -rf build
