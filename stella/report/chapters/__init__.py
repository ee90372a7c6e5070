"""One module per page of the book, named by the page; importing this package declares every page
(:func:`stella.report.chapter.chapter`) and every claim (:func:`stella.report.claims.register`).

===================================  =====================================================================
page (``notebooks/<name>.ipynb``)    module (and its measurements)
===================================  =====================================================================
00_method_walkthrough                ``walkthrough``
01_benchmark                         ``benchmark``
02_retrieval                         ``retrieval`` (``retrieval_matrices``: the accuracy matrix)
03_efficiency                        ``efficiency`` (``efficiency_table``: memory and throughput measured)
04_ablations                         ``ablations``
04b_controls                         ``controls`` (``controls_efficiency``: E and the sparsity curve;
                                     ``controls_measures``: RCA, the overwriting pairs, localisation;
                                     ``calibration``: the calibration sweep's record)
05_memory_size                       ``memory_size``
06_modality_gap                      ``modality_gap``
07_attention_localization            ``localization``
08_downstream                        ``downstream``
08b_replication                      ``replication``
09_what_reproduced, index            ``reproduced``
lab                                  ``lab``
===================================  =====================================================================
"""
from stella.report.chapter import declared_all
from stella.report.chapters import (  # noqa: F401
                                    ablations,
                                    benchmark,
                                    controls,
                                    downstream,
                                    efficiency,
                                    lab,
                                    localization,
                                    memory_size,
                                    modality_gap,
                                    replication,
                                    reproduced,
                                    retrieval,
                                    walkthrough,
)

declared_all()
