#!/usr/bin/env bash
# Regenerates ingest/gen/ from ingest/proto/ (the generated code is committed), then checks that the
# schema only grew: `buf breaking` against the schema as committed at HEAD (fields only ever added).
set -euo pipefail
cd "$(dirname "$0")"
../node_modules/.bin/buf lint proto
../node_modules/.bin/buf generate
if git rev-parse --verify -q HEAD >/dev/null && git cat-file -e HEAD:ingest/proto/kiln/ingest/v1/ingest.proto 2>/dev/null; then
  ../node_modules/.bin/buf breaking proto --against "$(git rev-parse --show-toplevel)/.git#subdir=ingest/proto"
fi
echo "ingest/gen regenerated"
