"""CPU stand-in for recipe/collabllm/collabllm_interation.py (sic, the module's name in veRL 0.6.0;
images/trainer-cpu/README.md): the user simulator. user_model, num_retries, termination_signal and enable_log are its
own settings; every other key of the interaction's config goes to litellm.acompletion as it is (api_base,
max_tokens, temperature), which is how the operator's rendered config reaches the pod's user-simulator gateway."""

import asyncio

import litellm

from recipe.collabllm.utils import chat_history, extract_json

USER_PROMPT_TEMPLATE = """You are role-playing as a human USER interacting with an AI collaborator to complete a task.
Task: {task_desc}
Complete Prompt or Reference Goal (Not visible to the AI): {single_turn_prompt}
Chat history:
{chat_history}
Use "{termination_signal}" as your response when you believe your goal has been solved.
Output a JSON object with the keys "current_answer", "thought" and "response"."""


class CollabLLMInteraction:
    def __init__(self, config):
        config = dict(config)
        self.name = config.pop("name", "interaction_agent")
        self.enable_log = config.pop("enable_log", False)
        self.user_model = config.pop("user_model")
        self.termination_signal = config.pop("termination_signal", "[[TERMINATE CHAT]]")
        self.num_retries = config.pop("num_retries", 3)
        self.user_model_kwargs = config

    async def generate_response(self, messages, interaction_kwargs):
        """(should_terminate, response): an empty response when every attempt failed, as the recipe's."""
        prompt = USER_PROMPT_TEMPLATE.format(
            task_desc=interaction_kwargs.get("task_desc", "general ask-for-assistance task"),
            single_turn_prompt=interaction_kwargs["single_turn_prompt"],
            chat_history=chat_history(messages),
            termination_signal=self.termination_signal,
        )
        response = ""
        for i in range(self.num_retries):
            try:
                full = await litellm.acompletion(
                    model=self.user_model, messages=[{"role": "user", "content": prompt}], **self.user_model_kwargs
                )
                parsed = extract_json(full.choices[0].message.content)
                if {"current_answer", "thought", "response"} <= set(parsed):
                    response = parsed["response"]
                    break
            except litellm.RateLimitError as e:
                print(f"[Error] rate limited by the user simulator: {e}", flush=True)
                await asyncio.sleep(max(2**i, 60))
            except Exception as e:
                print(f"[Error] user simulator: {e}", flush=True)
        if self.enable_log:
            print(f"User: {response[:100]}...", flush=True)
        return self.termination_signal in response, response
