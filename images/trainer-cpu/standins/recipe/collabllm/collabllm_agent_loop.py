"""CPU stand-in for recipe/collabllm/collabllm_agent_loop.py (images/trainer-cpu/README.md): one sample's rollout.
The policy's own turns are canned (generating them needs the model on a GPU); the rest is the recipe's: the first
assistant turn, then num_repeat_rollouts future conversations of simulated user and policy turns within
max_user_turns and max_assistant_turns (the first turn counts), each scored by the reward function."""

from recipe.collabllm.reward_function import combine

POLICY_TURN = "Before I solve this, could you tell me which form of the answer you need?"


class CollabLLMAgentLoop:
    def __init__(self, interaction, reward_fn, weights, judge_kwargs, multi_turn):
        self.interaction = interaction
        self.reward_fn = reward_fn
        self.weights = weights
        self.judge_kwargs = judge_kwargs
        self.num_repeats = multi_turn.get("num_repeat_rollouts") or 1
        self.max_user_turns = multi_turn["max_user_turns"]
        self.max_assistant_turns = multi_turn["max_assistant_turns"]

    async def run(self, row):
        """(reward, each metric's weighted and clamped mean): what the reward manager prints as "Scores:"."""
        messages = list(row["raw_prompt"]) + [{"role": "assistant", "content": POLICY_TURN}]
        interaction_kwargs = row["extra_info"]["interaction_kwargs"]
        sums = {m: 0.0 for m in self.weights}
        for _ in range(self.num_repeats):
            conversation = list(messages)
            user_turns, assistant_turns = 0, 1
            while user_turns < self.max_user_turns and assistant_turns < self.max_assistant_turns:
                done, response = await self.interaction.generate_response(conversation, interaction_kwargs)
                conversation.append({"role": "user", "content": response})
                user_turns += 1
                if done:
                    break
                conversation.append({"role": "assistant", "content": POLICY_TURN})
                assistant_turns += 1
            scores = await self.reward_fn(
                row["data_source"], conversation, row["ground_truth"], row["extra_info"], list(self.weights),
                **self.judge_kwargs,
            )
            for metric, value in scores.items():
                sums[metric] += value
        reward, weighted = combine(sums, self.weights, self.num_repeats)
        print("Scores:", tensor_text([reward]), "{" + ", ".join(f"'{m}': {tensor_text(v)}" for m, v in weighted.items()) + "}", flush=True)
        return reward, weighted


def tensor_text(value):
    """How torch prints a float32 tensor: four decimals, or none for whole numbers (`tensor(1.)`)."""
    if isinstance(value, list):
        return "tensor([" + ", ".join(number_text(v) for v in value) + "])"
    return f"tensor({number_text(value)})"


def number_text(value):
    return f"{value:.0f}." if float(value).is_integer() else f"{value:.4f}"
