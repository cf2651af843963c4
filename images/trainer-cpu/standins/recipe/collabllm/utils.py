"""CPU stand-in for recipe/collabllm/utils.py (images/trainer-cpu/README.md): the helpers the other modules share."""

import json
import re


def chat_history(messages):
    """The recipe's `**Role**: content` rendering of a conversation, system messages left out."""
    return "\n".join(f"**{m['role'].capitalize()}**: {m['content']}" for m in messages if m["role"] != "system")


def extract_json(text):
    """extract_json, in spirit: the first {...} in the text, single quotes allowed."""
    match = re.search(r"\{.*\}", text or "", re.S)
    if not match:
        raise ValueError(f"no JSON object in {text!r}")
    try:
        return json.loads(match.group(0))
    except json.JSONDecodeError:
        return json.loads(match.group(0).replace("'", '"'))
