"""Annotation file formats (COCO, Pascal VOC, YOLO, LabelMe import): pure read/write."""
