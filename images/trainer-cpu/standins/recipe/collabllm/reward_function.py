"""CPU stand-in for recipe/collabllm/reward_function.py (images/trainer-cpu/README.md): each metric of a
conversation scored as recipe/collabllm/metrics/*.py do (the judge through litellm with
reward_kwargs.llm_judge_kwargs, which is how the rendered config reaches the pod's judge gateway; token_amount
counted), retried as conversation_level_reward_func retries, and combined as CollabLLMRewardManager combines them."""

import asyncio

import litellm

from recipe.collabllm.utils import chat_history, extract_json

JUDGE_PROMPTS = {
    "accuracy": """You are a helpful and meticulous evaluator. Compare the final answer in the conversation with the
ground truth.
Ground truth: {ground_truth}
Conversation:
{chat_history}
Rating criteria (binary): 1 = Correct, 0 = Incorrect.
Output a JSON object with the keys "thought" and "accuracy".""",
    "interactivity": """You are a helpful and meticulous conversation evaluator. Rate the AI's interactivity: user
understanding, clarification and suggestions, each in [0, 1], and give their average.
Conversation:
{chat_history}
Output a JSON object with the keys "thought" and "interactivity".""",
    "bleu_score": """Extract the final, complete answer the AI gave in this conversation.
Conversation:
{chat_history}
Output a JSON object with the keys "thought" and "final_completion".""",
}


async def compute_metric(metric, messages, ground_truth, extra_info, **kwargs):
    if metric == "token_amount":
        return float(sum(len(m["content"].split()) for m in messages[len(extra_info["prompt"]) :]))
    if metric not in JUDGE_PROMPTS:
        # pass_rate imports bigcodebench, which this image lacks, as the recipe's image without it does.
        raise ModuleNotFoundError(f"No module named 'bigcodebench' (metric {metric})")
    prompt = JUDGE_PROMPTS[metric].format(ground_truth=ground_truth, chat_history=chat_history(messages))
    full = await litellm.acompletion(messages=[{"role": "user", "content": prompt}], **kwargs)
    result = extract_json(full.choices[0].message.content)
    if metric == "bleu_score":
        from nltk.translate.bleu_score import sentence_bleu

        return float(sentence_bleu([ground_truth.split()], str(result["final_completion"]).split()))
    return float(result[metric])


async def conversation_level_reward_func(data_source, messages, ground_truth, extra_info, metrics, **kwargs):
    num_retries = kwargs.get("num_retries", 6)
    rewards = {}
    for metric in metrics:
        for attempt in range(num_retries):
            try:
                rewards[metric] = await compute_metric(metric, messages, ground_truth, extra_info, **kwargs)
                break
            except Exception as e:
                if attempt == num_retries - 1:
                    print(f"Error: Failed to compute metric {metric} after {num_retries} attempts: {e}", flush=True)
                    rewards[metric] = 0.0
                elif isinstance(e, litellm.RateLimitError):
                    await asyncio.sleep(max(2**attempt, 60))
    return rewards


def combine(per_metric_sums, weights, num_repeat_rollouts):
    """CollabLLMRewardManager: per metric, the sum over future conversations weighted, averaged and clamped to
    [-1, 1]; the sample's reward is their sum. Returns it with the per-metric values (all 0.0 without any future
    conversation)."""
    if num_repeat_rollouts == 0:
        return 0.0, {m: 0.0 for m in weights}
    weighted = {m: max(-1.0, min(1.0, per_metric_sums[m] * weights[m] / num_repeat_rollouts)) for m in weights}
    return sum(weighted.values()), weighted
