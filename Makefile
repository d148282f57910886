# `make demo` and `make test` work on a fresh clone with only Python 3.11 installed:
# they create .venv when missing and (re)install the project when pyproject.toml changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.structid-installed

.PHONY: demo test install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[md,dask,test]'
	@touch $@

demo: $(STAMP)
	$(BIN)/structid example grains -o examples/grains.lammpstrj --force
	$(BIN)/structid info examples/grains.lammpstrj
	$(BIN)/structid classify examples/grains.lammpstrj --force \
		-o examples/grains.structid.lammpstrj --summary-json examples/grains.summary.json \
		--fractions-csv examples/grains.fractions.csv --plot examples/grains.fractions.png
	$(BIN)/structid classify examples/grains.lammpstrj --method ptm --force \
		-o examples/grains.ptm.extxyz
	$(BIN)/structid classify examples/grains.lammpstrj --method nmcnn --min-confidence 0.8 \
		--force -o examples/grains.nmcnn.extxyz --plot examples/grains.nmcnn.png
	$(BIN)/structid classify examples/grains.lammpstrj --method less \
		--force -o examples/grains.less.extxyz

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/io_neighbors.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
