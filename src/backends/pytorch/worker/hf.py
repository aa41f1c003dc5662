"""The model through Hugging Face transformers, when it is installed (what the reference server uses).

UNTESTED in optibench's CI, which has no transformers (the built-in forward in llama.py is what the tests
run). Kept small on purpose. How optibench's inputs reach transformers:

- `input_ids` and `position_ids` are passed as they are (`position_ids=`), so rotary embeddings follow the
  packed positions (a tree row's ending slots carry their position in the sequence, not their slot);
- the mask (causal-by-position over real key slots, or the tree mask) is passed as a 4-D additive float mask
  [rows, 1, seq, seq] in the model's dtype: 0 where a slot may attend, the dtype's lowest value elsewhere.
  transformers >= 4.38 takes such a custom 4-D mask as it is; older versions do not, and are refused;
- `use_cache=False`; the base model's last hidden state (already through the final norm) is gathered at the
  scored slots and only there goes through `lm_head`; log-softmax and arg-max in float32 as llama.py.
"""

import torch


def version():
    """transformers' version, or None when it cannot be imported."""
    try:
        import transformers
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        return None
    return transformers.__version__


class HfScorer(torch.nn.Module):
    def __init__(self, model_dir, dtype, device):
        super().__init__()
        import transformers
        from transformers import LlamaForCausalLM

        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        if (major, minor) < (4, 38):
            raise ValueError(
                f"transformers {transformers.__version__} cannot take a custom 4-D attention mask (4.38 or later needed); "
                "set OPTIBENCH_PYTORCH_IMPLEMENTATION=builtin to use optibench's own forward"
            )
        self.model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=dtype, low_cpu_mem_usage=True).to(device).eval()
        self.dtype = dtype

    def forward(self, input_ids, position_ids, allowed, score_positions, target_ids):
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=allowed.device)
        mask = mask.masked_fill(~allowed, torch.finfo(self.dtype).min)
        out = self.model.model(input_ids=input_ids, position_ids=position_ids, attention_mask=mask, use_cache=False)
        h = out.last_hidden_state
        rows, scored = score_positions.shape
        at = torch.gather(h, 1, score_positions.unsqueeze(-1).expand(rows, scored, h.shape[-1]))
        logits = self.model.lm_head(at).float()
        logprobs = torch.log_softmax(logits, dim=-1)
        return logprobs.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1), logits.argmax(dim=-1) == target_ids

    def weight_shapes(self):
        return {name: [list(p.shape), p.numel() * p.element_size()] for name, p in self.model.named_parameters()}
