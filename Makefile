# Convenience wrapper around CMake. `make run` starts the daemon in the
# foreground; `make test` runs the whole test suite (what CI runs).
BUILD      ?= build
SAN_BUILD  ?= build-san
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build build-san run test test-san fuzz bench format clean

all: build

# Everything the suite needs; `make run` installs only what vmad needs.
deps:
	@scripts/install-deps.sh all

# VMAD_REQUIRE_TOOLS: a test tool that is missing is an error here, not a
# skipped test.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
		-DVMAD_REQUIRE_TOOLS=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
		-DVMAD_ASAN=ON -DVMAD_UBSAN=ON -DVMAD_POISON=ON \
		-DVMAD_REQUIRE_TOOLS=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j$(JOBS)

# Only the daemon's packages and the daemon (a build directory configured
# by `make build` is reused as it is).
run:
	@scripts/install-deps.sh run
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) \
		-DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target vmad
	$(BUILD)/daemon/vmad --foreground

# The fuzz and sanitizer configurations run first so that the run ends with
# the summary of the plain build's full suite.
test: fuzz test-san build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE regtest
	@scripts/diff-summary.sh $(BUILD)

test-san: build-san
	cd $(SAN_BUILD) && ctest --output-on-failure -j$(JOBS) -L sanitize -LE regtest

# libFuzzer targets (clang, ASan+UBSan), each run briefly on its corpus.
fuzz:
	@scripts/install-deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DVMAD_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_rpc fuzz_vt fuzz_vas fuzz_snap
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j$(JOBS) -L fuzz

bench: build
	$(BUILD)/bench/rtree-bench
	$(BUILD)/bench/space-bench

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
