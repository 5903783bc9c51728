#!/usr/bin/env bash
# Vendor the /docs and /redoc assets into handler/docs_assets/, gzip-compressed, from the npm packages whose
# versions and sha384 (SRI) hashes handler/docs.py pins. Run it after changing a pin there; it refuses files
# whose hash differs. Needs npm (the npm registry) and python3; the function itself never downloads them.
set -euo pipefail
cd "$(dirname "$0")/.."
pins=$(python3 - <<'PY'
import re
text = open("handler/docs.py").read()
print(" ".join(re.search(rf'^{name} = "([^"]+)"', text, re.M).group(1) for name in ("SWAGGER_VERSION", "REDOC_VERSION")))
PY
)
read -r swagger redoc <<<"$pins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$swagger" "redoc@$redoc" >/dev/null)
mkdir -p "$work/swagger" "$work/redoc"
tar xzf "$work/swagger-ui-dist-$swagger.tgz" -C "$work/swagger" --strip-components=1
tar xzf "$work/redoc-$redoc.tgz" -C "$work/redoc" --strip-components=1
out=handler/docs_assets
mkdir -p "$out"
for pair in "swagger/swagger-ui-bundle.js" "swagger/swagger-ui.css" "redoc/bundles/redoc.standalone.js"; do
  gzip -9 -n -c "$work/$pair" > "$out/$(basename "$pair").gz"
done
cp "$work/swagger/LICENSE" "$out/swagger-ui-LICENSE"
cp "$work/swagger/NOTICE" "$out/swagger-ui-NOTICE"
cp "$work/redoc/LICENSE" "$out/redoc-LICENSE"
python3 - <<'PY'
import base64, gzip, hashlib, re
text = open("handler/docs.py").read()
for name, pin in (("swagger-ui-bundle.js", "SWAGGER_JS_SRI"), ("swagger-ui.css", "SWAGGER_CSS_SRI"),
                  ("redoc.standalone.js", "REDOC_JS_SRI")):
    expected = re.search(rf'^{pin} = "([^"]+)"', text, re.M).group(1)
    data = gzip.decompress(open(f"handler/docs_assets/{name}.gz", "rb").read())
    actual = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{name}: {actual} is not the pinned {expected}; update the pin only after reviewing it")
    print(f"ok {name} {actual}")
PY
