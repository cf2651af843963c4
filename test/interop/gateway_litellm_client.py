"""Calls the gateway through litellm exactly as veRL's CollabLLM recipe does (collabllm_interation.py and the judge
metrics): `await litellm.acompletion(model="openai/<name>", messages=[...], api_base=..., api_key=..., **kwargs)`.

Input (argv[1]): a JSON list of calls, each {"kwargs": {...}}; they run in order. Output (stdout): a JSON list with,
per call, either {"content": ..., "usage": {...}} or {"error": <litellm exception class>, "status": <HTTP status>}.
"""
import asyncio
import json
import sys

import litellm


async def call(kwargs):
    try:
        if kwargs.get("stream"):
            content = ""
            async for chunk in await litellm.acompletion(**kwargs):
                content += chunk.choices[0].delta.content or ""
            return {"content": content}
        response = await litellm.acompletion(**kwargs)
        return {"content": response.choices[0].message.content, "usage": dict(response.usage)}
    except Exception as error:  # noqa: BLE001 - the test asserts on the class litellm raised
        return {"error": type(error).__name__, "status": getattr(error, "status_code", None)}


async def main():
    results = [await call(c["kwargs"]) for c in json.loads(sys.argv[1])]
    print(json.dumps(results, default=str))


asyncio.run(main())
