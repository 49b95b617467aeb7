#!/usr/bin/env bash
# Validates Kubernetes manifests offline, strictly: every YAML document against the JSON
# schemas of the Kubernetes API that the PyPI package kubernetes-validate bundles (no schema
# is downloaded at validation time), with unknown fields as errors (--strict).
#
# Usage: scripts/validate-k8s.sh [FILE|DIR ...]      (default: examples/kubernetes)
#   A DIR means its *.yaml and *.yml files (not those of its subdirectories).
#   kustomization.yaml files are not Kubernetes objects: for each one, the files it lists must
#   exist, and when kubectl is installed, `kubectl kustomize` renders the directory and the
#   rendered objects are validated as well.
#
# What fails (exit 1): YAML that does not parse, a duplicate key, a document without
# apiVersion/kind/metadata.name, a kind with no schema (a misspelt kind or apiVersion), any
# schema error (unknown or misspelt field, wrong type, missing required field), a ConfigMap
# `*.toml` entry that is not valid TOML, a kustomization that does not render.
#
# The validator is installed on first use into .cache/k8s-venv (python3 -m venv, then pip
# install kubernetes-validate==$K8S_VALIDATE_VERSION from PyPI); later runs need no network.
# Environment: K8S_VERSIONS (Kubernetes versions to validate against, default "1.31.0 1.37.0"),
# K8S_VENV (the venv), K8S_VALIDATE_VERSION (the package version, default 1.37.0).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
pkg_version=${K8S_VALIDATE_VERSION:-1.37.0}
venv=${K8S_VENV:-$repo/.cache/k8s-venv}
read -r -a k8s_versions <<<"${K8S_VERSIONS:-1.31.0 1.37.0}"
validator="$venv/bin/kubernetes-validate"

installed() {
    [ "$("$validator" --version 2>/dev/null)" = "$pkg_version" ]
}

# Install kubernetes-validate into the venv unless that version is there; a lock keeps two
# runs at once (parallel tests) from installing over each other.
ensure_validator() {
    installed && return 0
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    if command -v flock >/dev/null; then flock 9; fi
    if ! installed; then
        echo "validate-k8s: installing kubernetes-validate==$pkg_version into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "kubernetes-validate==$pkg_version" >&2
        installed || { echo "validate-k8s: $validator is not version $pkg_version" >&2; exit 2; }
    fi
    exec 9>&-
}

# The files to validate and the kustomizations to render.
[ $# -gt 0 ] || set -- "$repo/examples/kubernetes"
files=()
kustomize_dirs=()
for arg in "$@"; do
    if [ -d "$arg" ]; then
        while IFS= read -r f; do
            case "$(basename "$f")" in
                kustomization.yaml | kustomization.yml | Kustomization) kustomize_dirs+=("$arg") ;;
                *) files+=("$f") ;;
            esac
        done < <(find "$arg" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' \) | LC_ALL=C sort)
    elif [ -f "$arg" ]; then
        case "$(basename "$arg")" in
            kustomization.yaml | kustomization.yml | Kustomization) kustomize_dirs+=("$(dirname "$arg")") ;;
            *) files+=("$arg") ;;
        esac
    else
        echo "validate-k8s: no such file or directory: $arg" >&2
        exit 2
    fi
done
if [ ${#files[@]} -eq 0 ] && [ ${#kustomize_dirs[@]} -eq 0 ]; then
    echo "validate-k8s: no YAML files in: $*" >&2
    exit 2
fi

ensure_validator
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. What the schemas do not see: YAML syntax and duplicate keys (PyYAML keeps the last of
#    two equal keys silently), the identity of every document, TOML inside ConfigMaps, and the
#    files each kustomization lists.
if ! "$venv/bin/python" - "${files[@]}" --kustomize "${kustomize_dirs[@]}" <<'PY'; then
import os
import sys

import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11: the TOML check is skipped
    tomllib = None


class StrictLoader(yaml.SafeLoader):
    pass


def mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)

args = sys.argv[1:]
split = args.index("--kustomize")
files, kustomize_dirs = args[:split], args[split + 1:]
errors = 0


def error(msg):
    global errors
    errors += 1
    print(f"ERROR {msg}")


for f in files:
    try:
        with open(f) as fh:
            docs = [d for d in yaml.load_all(fh, Loader=StrictLoader) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        error(f"{f}: {e}")
        continue
    if not docs:
        error(f"{f}: no YAML document")
    for i, d in enumerate(docs):
        where = f"{f} (document {i + 1})"
        if not isinstance(d, dict):
            error(f"{where}: not a mapping")
            continue
        for key in ("apiVersion", "kind"):
            if not isinstance(d.get(key), str) or not d.get(key):
                error(f"{where}: no {key}")
        if not isinstance(d.get("metadata"), dict) or not d["metadata"].get("name"):
            error(f"{where}: no metadata.name")
        if d.get("kind") == "ConfigMap" and tomllib is not None:
            for key, value in (d.get("data") or {}).items():
                if key.endswith(".toml"):
                    try:
                        tomllib.loads(value)
                    except (tomllib.TOMLDecodeError, TypeError) as e:
                        error(f"{where}: data.{key} is not valid TOML: {e}")

for k in kustomize_dirs:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = os.path.join(k, name)
        if os.path.isfile(path):
            break
    try:
        with open(path) as fh:
            kust = yaml.load(fh, Loader=StrictLoader) or {}
    except (OSError, yaml.YAMLError) as e:
        error(f"{path}: {e}")
        continue
    for r in kust.get("resources") or []:
        if "://" not in r and not os.path.exists(os.path.join(k, r)):
            error(f"{path}: resource {r} does not exist")

sys.exit(1 if errors else 0)
PY
    failed=1
fi

# 2. The schemas, strictly, for each Kubernetes version; one file at a time so that one file
#    that does not parse does not hide the others. A WARN (no schema for that kind) fails too.
version_args=()
for v in "${k8s_versions[@]}"; do version_args+=(-k "$v"); done
validate() { # FILE [LABEL]
    local out rc=0
    out=$("$validator" --strict "${version_args[@]}" "$1" 2>&1) || rc=$?
    [ -z "${2:-}" ] || out=${out//"$1"/"$2"}
    [ -z "$out" ] || printf '%s\n' "$out"
    if [ "$rc" -ne 0 ] || grep -qE '^(ERROR|WARN|FATAL)' <<<"$out"; then
        return 1
    fi
}
for f in "${files[@]}"; do
    validate "$f" || failed=1
done

# 3. Each kustomization, rendered by kubectl (offline), validated as a whole.
for k in "${kustomize_dirs[@]}"; do
    if ! command -v kubectl >/dev/null; then
        echo "SKIP $k: kubectl is not installed, so the kustomization is not rendered"
        continue
    fi
    rendered="$tmp/rendered-$RANDOM.yaml"
    if timeout 120 kubectl kustomize "$k" >"$rendered" 2>"$tmp/kustomize.err"; then
        validate "$rendered" "kustomize($k)" || failed=1
    else
        echo "ERROR kubectl kustomize $k failed: $(cat "$tmp/kustomize.err")"
        failed=1
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "validate-k8s: FAILED (kubernetes-validate $pkg_version --strict, Kubernetes ${k8s_versions[*]})"
    exit 1
fi
echo "validate-k8s: OK, ${#files[@]} file(s) and ${#kustomize_dirs[@]} kustomization(s)" \
    "(kubernetes-validate $pkg_version --strict, Kubernetes ${k8s_versions[*]})"
