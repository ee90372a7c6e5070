"""Evaluation of continual audio-video pre-training (section 5, appendices B, E, G).

* :mod:`~stella.eval.metrics` - A and F of an accuracy matrix (section 5.1).
* :mod:`~stella.eval.retrieval` - zero-shot A->V / V->A retrieval, R@k, Table 1 layout.
* :mod:`~stella.eval.gap` - modality gap, its decline, UMAP views (Fig. 6, 10, 11, 12).
* :mod:`~stella.eval.attention` - AVM / similarity attention maps over video patches.
* :mod:`~stella.eval.localization` - cIoU, AUC, pointing game, attention drift on masks.
* :mod:`~stella.eval.probes` - classification, event localisation, retrieval fine-tuning.
* :mod:`~stella.eval.signal`, :mod:`~stella.eval.diagnosis`, :mod:`~stella.eval.sound_dependence` - the AVM,
  STELLA's selection and RCA against the benchmark's ground truth, and whether the AVM's map needs the sound
  (imported on their own).
* :mod:`~stella.eval.class_forgetting` - the forgetting of single classes, those whose visual object a later task
  reuses with a new sound set apart (imported on its own).

Every function returns tensors or tidy pandas DataFrames and validates its inputs: an empty
split or non-finite embeddings raise ``ValueError`` naming the problem.
"""
from stella.eval.metrics import accuracy_matrix, average_accuracy, forgetting, per_task_forgetting, summarize_matrices
from stella.eval.retrieval import (accuracy_matrices, chance_recall, extract_embeddings, median_rank, ranks, recall_at_k,
                                   retrieval_scores, summarize)
from stella.eval.gap import gap_decline, modality_gap, modality_gaps, umap_2d
from stella.eval.localization import (attention_drift, binarize, ciou, iou, iou_auc, localization_summary,
                                      per_clip_localization, pointing_game, success_curve)
from stella.eval.attention import (attention_maps, avm_attention_maps, clip_attention_maps, plot_attention,
                                   similarity_maps, upsample_to_frames)
from stella.eval.probes import (classification_probe, event_localization_probe, event_targets,
                                retrieval_finetune, time_features, train_probe)

__all__ = [
    "average_accuracy", "forgetting", "per_task_forgetting", "summarize_matrices", "accuracy_matrix",
    "ranks", "recall_at_k", "chance_recall", "median_rank", "extract_embeddings", "retrieval_scores", "accuracy_matrices",
    "summarize", "modality_gap", "modality_gaps", "gap_decline", "umap_2d", "binarize", "iou",
    "pointing_game", "success_curve", "ciou", "iou_auc", "per_clip_localization", "localization_summary",
    "attention_drift", "avm_attention_maps", "similarity_maps", "clip_attention_maps", "attention_maps",
    "upsample_to_frames", "plot_attention", "train_probe", "classification_probe", "time_features",
    "event_targets", "event_localization_probe", "retrieval_finetune",
]
