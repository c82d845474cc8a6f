"""slimtrain: trains slimcodec's slimmable encoder and reconstructor by distillation from a frozen teacher.

Modules: tfjs_graph (TFJS graph models run with torch ops), teacher (head/tail split teachers), centernet (the
built-in COCO teacher's decoding), student (ensemble + quantizer + reconstructor), data, cache, train, coco_map,
evaluate, report, export, fixture (the C++ end-to-end fixture), check_teacher (TFJS comparison), cli.
docs/training.md describes the pipeline and how to reproduce the committed results.
"""
