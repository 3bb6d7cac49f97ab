"""Synthetic sources for the render stage's tests and bench, with known answers.

Produces an MP4 (H.264 + AAC) whose scenes change at known cut times (each scene has its own
background colour, so a frame tells which scene it is from), whose keyframes fall on every whole
second (so whole-second cuts can be stream-copied), with a moving test pattern standing in for
gameplay and, optionally, a facecam: a drawn face that OpenCV's bundled Haar cascade finds, in a
box at a known place. ``talking=True`` makes a just-talking source instead: a large face that
drifts slowly sideways. Drawing the face needs OpenCV.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.ffmpeg import run_ffmpeg
from detector.render.plan import Box

SCENE_COLOURS = ((150, 40, 40), (40, 120, 40), (40, 60, 160), (150, 130, 30), (110, 40, 130), (30, 130, 130))
"""Background RGB of scene 0, 1, 2... (cycled)."""
CAM_BACKDROP = (60, 90, 60)
"""BGR of the facecam's backdrop (behind the face)."""
SKIN = (150, 170, 205)
"""BGR of the drawn face's skin."""


@dataclass(frozen=True)
class RenderSource:
    """A generated source and what is known about it."""

    path: Path
    width: int
    height: int
    fps: int
    duration_s: float
    cuts: tuple[float, ...]
    """Times of hard scene changes (keyframes)."""
    facecam: Box | None
    """The facecam box in source pixels (split-layout sources)."""
    face: Box | None
    """The face inside it at t = 0 (source pixels)."""

    def scene_colour(self, t: float) -> tuple[int, int, int]:
        """Background RGB of the scene shown at ``t``."""
        return SCENE_COLOURS[sum(1 for c in self.cuts if t >= c) % len(SCENE_COLOURS)]


def draw_face(width: int, height: int, *, face_share: float = 0.6) -> tuple[np.ndarray, Box]:
    """A BGR image of a face on the cam backdrop, and the face's box in it."""
    import cv2

    img = np.full((height, width, 3), CAM_BACKDROP, np.uint8)
    fh = int(height * face_share)
    fw = int(fh * 0.78)
    cx, cy = width // 2, height // 2
    skin, dark = SKIN, (40, 40, 50)
    cv2.ellipse(img, (cx, cy), (fw // 2, fh // 2), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (cx, cy - int(fh * 0.38)), (int(fw * 0.52), int(fh * 0.16)), 0, 180, 360, (30, 40, 50), -1)
    for dx in (-1, 1):
        ex, ey = cx + dx * int(fw * 0.21), cy - int(fh * 0.10)
        cv2.ellipse(img, (ex, ey - int(fh * 0.07)), (int(fw * 0.12), int(fh * 0.025)), 0, 0, 360, dark, -1)
        cv2.ellipse(img, (ex, ey), (int(fw * 0.11), int(fh * 0.04)), 0, 0, 360, (240, 240, 240), -1)
        cv2.circle(img, (ex, ey), max(2, int(fw * 0.045)), (30, 30, 30), -1)
    nose = np.array([[cx, cy - int(fh * 0.05)], [cx - int(fw * 0.07), cy + int(fh * 0.10)],
                     [cx + int(fw * 0.07), cy + int(fh * 0.10)]])
    cv2.polylines(img, [nose], True, (110, 120, 160), max(1, fh // 100))
    cv2.ellipse(img, (cx, cy + int(fh * 0.23)), (int(fw * 0.18), int(fh * 0.04)), 0, 0, 360, (60, 60, 140), -1)
    blurred: np.ndarray = cv2.GaussianBlur(img, (0, 0), max(0.8, fh / 110))
    return blurred, Box(cx - fw // 2, cy - fh // 2, fw, fh)


def make_render_source(out_dir: str | Path, *, width: int = 640, height: int = 360, fps: int = 30,
                       seconds: float = 12.0, cuts: tuple[float, ...] = (4.0, 8.0), facecam: bool = True,
                       talking: bool = False, name: str = "render_src", preset: str = "ultrafast",
                       tone_db: float = -12.0) -> RenderSource:
    """Write ``<name>.mp4`` under ``out_dir`` and return what it holds (see the module docstring).

    Only the face needs OpenCV: ``facecam=False, talking=False`` works without it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.mp4"
    cuts = tuple(sorted(c for c in cuts if 0 < c < seconds))
    bounds = [0.0, *cuts, seconds]
    scenes = [f"color=c=0x{r:02x}{g:02x}{b:02x}:s={width}x{height}:r={fps}:d={b1 - b0:.3f}[s{i}]"
              for i, (b0, b1) in enumerate(zip(bounds, bounds[1:]))
              for r, g, b in [SCENE_COLOURS[i % len(SCENE_COLOURS)]]]
    concat = "".join(f"[s{i}]" for i in range(len(bounds) - 1)) + f"concat=n={len(bounds) - 1}:v=1:a=0[bg]"
    pw, ph = width // 2 // 2 * 2, height // 2 // 2 * 2
    graph = [*scenes, concat, f"testsrc2=s={pw}x{ph}:r={fps}:d={seconds:.3f}[game]",
             f"[bg][game]overlay=x={width // 16}:y={height // 8}[g]"]
    cam_box = face_box = None
    with tempfile.TemporaryDirectory() as tmp:
        inputs: list[str] = []
        if talking or facecam:
            if talking:
                cw, ch = width // 2 // 2 * 2, height // 2 * 2
                img, face_in = draw_face(cw, ch, face_share=0.62)
                x_expr = f"{(width - cw) // 2}+{width // 8}*sin(2*PI*t/{seconds:.3f})"
                cam_box = Box((width - cw) // 2, 0, cw, ch)
            else:
                cw, ch = (width // 4) // 2 * 2, (height * 5 // 16) // 2 * 2
                img, face_in = draw_face(cw, ch, face_share=0.5)
                cam_box = Box(width - cw - width // 32, height - ch - height // 24, cw, ch)
                x_expr = str(cam_box.x)
            face_box = Box(cam_box.x + face_in.x, cam_box.y + face_in.y, face_in.w, face_in.h)
            import cv2

            png = Path(tmp) / "face.png"
            cv2.imwrite(str(png), img)
            inputs = ["-loop", "1", "-framerate", str(fps), "-i", str(png)]
            graph.append(f"[1:v]format=yuv420p[cam];[g][cam]overlay=x='{x_expr}':y={cam_box.y}:shortest=1[v]")
        else:
            graph.append("[g]null[v]")
        audio = f"sine=f=330:sample_rate=48000:d={seconds:.3f},volume={tone_db:g}dB,aformat=channel_layouts=stereo[a]"
        run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=48000", *inputs, "-filter_complex", ";".join([*graph, audio]),
                    "-map", "[v]", "-map", "[a]", "-t", f"{seconds:.3f}",
                    "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p",
                    "-x264-params", f"keyint={fps}:min-keyint={fps}:scenecut=0", "-c:a", "aac", "-b:a", "96k",
                    "-movflags", "+faststart", "-y", str(path)],
                   timeout_s=max(120.0, seconds * 20), what="writing a synthetic render source")
    return RenderSource(path, width, height, fps, seconds, tuple(cuts), cam_box, face_box)
