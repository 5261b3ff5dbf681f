"""Drawing tracks and writing annotated videos."""

from mmdistillmot.visualization.mot_drawing import VideoSink, draw_mot_rows, id_color

__all__ = ["VideoSink", "draw_mot_rows", "id_color"]
