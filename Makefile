# Convenience wrapper around CMake. `make run` starts the daemon in the
# foreground; `make test` runs the whole test suite (what CI runs).
BUILD      ?= build
SAN_BUILD  ?= build-san
JOBS       ?= $(shell nproc)
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build build-san run test test-san bench format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
		-DVMAD_ASAN=ON -DVMAD_UBSAN=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j$(JOBS)

run: build
	$(BUILD)/daemon/vmad --foreground

# The sanitizer configuration runs first so that the run ends with the
# summary of the plain build's full suite.
test: test-san build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE regtest

test-san: build-san
	cd $(SAN_BUILD) && ctest --output-on-failure -j$(JOBS) -L sanitize -LE regtest

bench: build
	$(BUILD)/bench/rtree-bench
	$(BUILD)/bench/space-bench

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
