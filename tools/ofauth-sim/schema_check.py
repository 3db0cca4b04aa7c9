"""Validates answers the simulator gave against the pydantic models that OFAuth's
own Python SDK (onlyfans-sdk) generates from OFAuth's OpenAPI file: a schema
nobody in this project wrote. Input: a JSON list of {route, model, body}.

Strictly, from JSON: pydantic's default (lax) mode would turn the string
"100001" into the number a model asks for, and hide a type the real API never
sends."""
import json
import sys

from onlyfans_sdk import models

answers = json.load(open(sys.argv[1]))
failures = []
for a in answers:
    model = getattr(models, a["model"])
    try:
        model.model_validate_json(json.dumps(a["body"]), strict=True)
    except Exception as e:  # pydantic.ValidationError, with every field that failed
        failures.append(f'{a["route"]} as {a["model"]}: {e}')
for f in failures:
    print(f)
print(f"{len(answers) - len(failures)} of {len(answers)} answers valid")
sys.exit(1 if failures else 0)
