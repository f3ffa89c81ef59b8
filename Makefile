# Course entry points. `make lab` and `make test` set everything up first.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PORT ?= 8888

.PHONY: setup lab test unit lessons lint release solutions grade bench clean-outputs

setup:  ## virtual environment, pinned packages, built-in data
	bash scripts/setup.sh

lab: setup  ## open the course in JupyterLab (prints the URL; no browser needed)
	bash scripts/lab.sh --port=$(PORT) lessons/01_concepts.ipynb

test:  ## set up, then run every test stage (unit, lessons, nbgrader, browser)
	bash scripts/test.sh

unit: setup  ## unit tests only (no lessons, nbgrader or browser)
	SEGLAB_PROFILE=quick pytest -n 2 -m "not nbgrader and not browser" tests --ignore=tests/browser

lessons: setup  ## re-execute every lesson in the quick profile
	SEGLAB_PROFILE=quick pytest -n 2 --dist loadfile --nbval-lax lessons

release: setup  ## instructors: generate every assignment, prove unsolved releases fail
	seglab grade release

solutions: setup  ## instructors: regenerate solutions/ from autograder/source
	seglab grade solutions

grade: setup  ## instructors: autograde autograder/submitted, export grades.csv
	seglab grade autograde

bench: setup  ## measure pipeline, labels, training, prediction; saves benchmarks/results/
	seglab bench

lint: setup
	ruff check src tests lessons autograder/source scripts benchmarks img
	ruff format --check src tests lessons autograder/source scripts benchmarks img

clean-outputs: setup  ## strip outputs from every notebook
	jupyter nbconvert --clear-output --inplace lessons/*.ipynb autograder/source/*/*.ipynb
