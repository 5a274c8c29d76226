#!/bin/sh
# cdk.json's app: infra/app.py in the project's venv, which `make` creates (so `npx cdk …` before it says so).
if [ ! -x .venv/bin/python ]; then
  echo "headcount: .venv/ does not exist yet: run 'make' first (it creates .venv/ and the Node tools; 'make synth' does that and synthesizes)" >&2
  exit 1
fi
exec .venv/bin/python -m infra.app
