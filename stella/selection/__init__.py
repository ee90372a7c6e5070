"""STELLA's patch selection (sections 4.1-4.3, Algorithm 1) and its ablation variants.

importance.py  Eq. 2 importance scores, the budget kappa
correlation.py Eq. 3 pooled queries, Eq. 4 replay-guided correlation scores
sampling.py    Eq. 5 video sampling, Algorithm 1 audio chunks, Eq. 6 gather
variants.py    Table 3 / Fig. 9b ablations (random, MATS, LPIS-only, RCA-only)
oracle.py      the controls: ground-truth (oracle) and reversed (anti-oracle) selection, joint or per modality
budget.py      visible tokens per clip of a method at a config (the token-budget table)
select.py      `select` / `select_from_scores`, the trainer's entry points
"""
from .correlation import correlation_scores, past_query_set, pooled_queries
from .oracle import TRUTH, TRUTH_STRATEGIES, oracle_rank_audio, oracle_selection, truth_order, truth_selection
from .importance import importance_from_attention, importance_scores, kappa, mu, uniform_importance
from .sampling import (AUDIO_MODES, chunk_importance, chunked_rank, exclusion_mask, gather, lex_order,
                       multinomial_order, random_chunks, rank_audio, rank_video, select_audio, select_topk,
                       select_video)
from .select import Selection, budgets, select, select_from_scores
from .variants import (AVM_STRATEGIES, STRATEGIES, ablate_scores, energy_scores, mats_selection, motion_scores,
                       normalise_scores, random_selection)

__all__ = ["importance_scores", "importance_from_attention", "kappa", "mu", "uniform_importance",
           "pooled_queries", "past_query_set", "correlation_scores",
           "AUDIO_MODES", "exclusion_mask", "multinomial_order", "lex_order", "rank_video", "chunk_importance",
           "chunked_rank", "rank_audio", "random_chunks", "select_video", "select_audio", "select_topk", "gather",
           "STRATEGIES", "AVM_STRATEGIES", "random_selection", "motion_scores", "energy_scores", "normalise_scores",
           "mats_selection", "ablate_scores", "TRUTH", "TRUTH_STRATEGIES", "truth_order", "oracle_rank_audio",
           "oracle_selection", "truth_selection", "Selection", "budgets", "select", "select_from_scores"]
