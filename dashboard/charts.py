"""Plotly figures for the pages: they draw arrays computed by ``core``; they compute nothing themselves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

#: Transparent-to-orange scale for saliency overlays.
HEAT_SCALE = [[0.0, "rgba(249,115,22,0)"], [0.35, "rgba(249,115,22,0.15)"], [1.0, "rgba(255,214,10,0.85)"]]
#: A dim grey scale for the spectrogram under a saliency overlay: loud areas stay dark grey, so only salience is
#: bright (a white base would read as "salient").
DIM_GREYS = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(110,110,110)"]]
#: Colours of runs in comparisons (colour-blind safe).
RUN_COLOURS = qualitative.Safe
#: Frequency ticks of spectrogram pictures, in Hz.
HZ_TICKS = [50, 100, 200, 500, 1000, 2000, 5000, 10000]
#: Dynamic range of spectrogram pictures, in dB.
DB_RANGE = 80.0
_MARGIN = dict(l=10, r=10, t=40, b=10)


def spectrum_bars(classes: Sequence[str], probs: np.ndarray, *, title: str = "Genre spectrum",
                  height: int = 360) -> go.Figure:
    """Horizontal bars of ``probs (C,)``, most probable on top."""
    order = np.argsort(probs)
    fig = go.Figure(go.Bar(x=probs[order], y=[classes[i] for i in order], orientation="h",
                           marker_color=["#f97316" if i == order[-1] else "#64748b" for i in order],
                           text=[f"{p:.0%}" for p in probs[order]], textposition="outside", cliponaxis=False))
    fig.update_layout(title=title, height=height, margin=_MARGIN, xaxis=dict(range=[0, 1.08], tickformat=".0%"))
    return fig


def style_bars(styles: dict[str, float], *, top: int = 8, height: int = 300) -> go.Figure:
    """Horizontal bars of the ``top`` strongest styles (independent probabilities: they do not sum to 1)."""
    ranked = sorted(styles.items(), key=lambda item: -item[1])[:top][::-1]
    fig = go.Figure(go.Bar(x=[p for _, p in ranked], y=[s for s, _ in ranked], orientation="h",
                           marker_color="#0ea5e9", text=[f"{p:.0%}" for _, p in ranked], textposition="outside",
                           cliponaxis=False))
    fig.update_layout(title="Styles (each scored on its own)", height=height, margin=_MARGIN,
                      xaxis=dict(range=[0, 1.08], tickformat=".0%", title="probability"))
    return fig


def timeline(classes: Sequence[str], probs: np.ndarray, bounds: np.ndarray, *, selected: int | None,
             title: str = "Timeline", span: tuple[float, float] | None = None) -> go.Figure:
    """Time × genre heatmap of segment probabilities ``(n, C)``; each column spans its segment's ``bounds`` (s),
    so the last cell ends where the audio ends.

    An invisible marker sits on every cell and a click anywhere in the plot chooses the nearest one (plotly point
    selection), reporting its segment in ``customdata``; the selected segment is outlined. ``span`` (s) limits the
    x axis to a window of a long song (the default: the whole song).
    """
    starts = bounds[:, 0]
    edges = np.append(starts, bounds[-1, 1])  # cell edges: a short last segment is drawn as short as it is
    centres = (bounds[:, 0] + bounds[:, 1]) / 2
    fig = go.Figure(go.Heatmap(z=probs.T, x=edges, y=list(classes), colorscale="Plasma", zmin=0, zmax=1,
                               colorbar=dict(title="probability", tickformat=".0%"), hoverinfo="skip"))
    cells = pd.DataFrame({"x": np.repeat(centres, len(classes)), "genre": list(classes) * len(starts),
                          "segment": np.repeat(np.arange(len(starts)), len(classes)),
                          "p": probs.reshape(-1)})
    fig.add_trace(go.Scatter(x=cells["x"], y=cells["genre"], mode="markers", customdata=cells["segment"],
                             marker=dict(size=12, opacity=0.0, symbol="square"), showlegend=False,
                             hovertemplate="%{x:.1f} s · %{y}: %{text}<extra>click to play</extra>",
                             text=[f"{p:.0%}" for p in cells["p"]]))
    if selected is not None:
        fig.add_vrect(x0=bounds[selected, 0], x1=bounds[selected, 1], line=dict(color="#22d3ee", width=3))
    x0, x1 = span if span is not None else (float(bounds[0, 0]), float(bounds[-1, 1]))
    fig.update_layout(title=title, height=360, margin=_MARGIN, hoverdistance=-1,  # a click anywhere in a column
                      xaxis=dict(title="time (s)", range=[x0, x1]),
                      yaxis=dict(range=[-0.5, len(classes) - 0.5]), clickmode="event+select", dragmode=False)
    return fig


def timeline_overview(probs: np.ndarray, bounds: np.ndarray, *, window: tuple[float, float],
                      height: int = 130) -> go.Figure:
    """The whole of a long song's timeline, small (genre rows unlabelled, same colours as :func:`timeline`), with
    the window the timeline shows outlined; a click anywhere reports the nearest segment in ``customdata``."""
    edges = np.append(bounds[:, 0], bounds[-1, 1])
    centres = (bounds[:, 0] + bounds[:, 1]) / 2
    rows = probs.shape[1]
    fig = go.Figure(go.Heatmap(z=probs.T, x=edges, y=np.arange(rows), colorscale="Plasma", zmin=0, zmax=1,
                               showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=centres, y=np.full(len(centres), (rows - 1) / 2), mode="markers",
                             customdata=np.arange(len(centres)), showlegend=False,
                             marker=dict(size=8, opacity=0.0, symbol="square"),
                             hovertemplate="%{x:.0f} s<extra>click to go there</extra>"))
    fig.add_vrect(x0=window[0], x1=window[1], line=dict(color="#22d3ee", width=2))
    fig.update_layout(title="The whole song (click a part to hear it)", height=height,
                      margin=dict(l=10, r=10, t=30, b=10), hoverdistance=-1, clickmode="event+select", dragmode=False,
                      xaxis=dict(title=None, range=[float(bounds[0, 0]), float(bounds[-1, 1])], ticksuffix=" s"),
                      yaxis=dict(range=[-0.5, rows - 0.5], visible=False))
    return fig


def mel_image(spec: np.ndarray, *, hop_seconds: float, band_hz: np.ndarray, title: str,
              heat: np.ndarray | None = None, height: int = 260) -> go.Figure:
    """A dB mel spectrogram ``(n_mels, frames)`` (band centres ``band_hz`` in Hz, log-frequency axis) with an
    optional saliency overlay ``heat`` of the same shape.

    The colour range spans the top :data:`DB_RANGE` dB of the picture (like ``librosa.power_to_db(top_db=80)``).
    """
    x = np.arange(spec.shape[1]) * hop_seconds
    y = np.maximum(band_hz, 1.0)
    top = float(spec.max())
    fig = go.Figure(go.Heatmap(z=spec, x=x, y=y, colorscale="Viridis" if heat is None else DIM_GREYS,
                               showscale=heat is None, zmin=top - DB_RANGE, zmax=top,
                               colorbar=dict(title="level (dB)"),
                               hovertemplate="%{x:.2f} s · %{y:.0f} Hz: %{z:.1f} dB<extra></extra>"))
    if heat is not None:
        fig.add_trace(go.Heatmap(z=heat, x=x, y=y, colorscale=HEAT_SCALE, zmin=0, zmax=1, showscale=True,
                                 colorbar=dict(title="salience"),
                                 hovertemplate="%{x:.2f} s · %{y:.0f} Hz: salience %{z:.2f}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=_MARGIN, xaxis_title="time in segment (s)",
                      yaxis=dict(title="frequency (Hz)", type="log", tickvals=HZ_TICKS,
                                 ticktext=[f"{v / 1000:g}k" if v >= 1000 else f"{v:g}" for v in HZ_TICKS]))
    return fig


def confusion_heatmap(matrix: pd.DataFrame, *, normalise: bool, selected: tuple[str, str] | None) -> go.Figure:
    """Confusion matrix (rows true, columns predicted), counts or row-normalised, clickable cell by cell."""
    counts = matrix.to_numpy(dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    values = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalise else counts
    labels = ["" if c == 0 else f"{v:.0%}" if normalise else f"{int(c)}"  # empty cells stay blank
              for c, v in zip(counts.reshape(-1), values.reshape(-1))]
    true, pred = list(matrix.index), list(matrix.columns)
    fig = go.Figure(go.Heatmap(z=values, x=pred, y=true, colorscale="Blues", hoverinfo="skip",
                               text=np.array(labels).reshape(values.shape), texttemplate="%{text}",
                               colorbar=dict(title="share" if normalise else "count")))
    grid_true = np.repeat(true, len(pred))
    grid_pred = np.tile(pred, len(true))
    fig.add_trace(go.Scatter(x=grid_pred, y=grid_true, mode="markers", showlegend=False,
                             marker=dict(size=40, opacity=0.0, symbol="square"),
                             customdata=np.stack([grid_true, grid_pred], axis=1),
                             text=[f"{int(c)} ({v:.0%} of the row)" for c, v in
                                   zip(counts.reshape(-1), (counts / np.maximum(rows, 1)).reshape(-1))],
                             hovertemplate="true %{y} → predicted %{x}: %{text}<extra>click to list</extra>"))
    if selected is not None:
        i, j = true.index(selected[0]), pred.index(selected[1])
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                      line=dict(color="#f97316", width=3))
    fig.update_layout(height=480, margin=_MARGIN, clickmode="event+select", dragmode=False,
                      xaxis=dict(title="predicted", range=[-0.5, len(pred) - 0.5]),
                      yaxis=dict(title="true", range=[len(true) - 0.5, -0.5]))
    return fig


def confusion_difference(diff: pd.DataFrame, *, title: str) -> go.Figure:
    """A diverging heatmap of a difference of two row-normalised confusion matrices."""
    span = max(0.01, float(np.abs(diff.to_numpy()).max()))
    text = np.array([["" if abs(v) < 0.005 else f"{v:+.0%}" for v in row] for row in diff.to_numpy()])
    fig = go.Figure(go.Heatmap(z=diff.to_numpy(), x=list(diff.columns), y=list(diff.index), colorscale="RdBu",
                               zmid=0, zmin=-span, zmax=span, text=text, texttemplate="%{text}",
                               colorbar=dict(title="Δ share", tickformat="+.0%")))
    fig.update_layout(title=title, height=480, margin=_MARGIN, xaxis_title="predicted", yaxis_title="true",
                      yaxis_autorange="reversed")
    return fig


def training_curves(history: pd.DataFrame) -> go.Figure:
    """Loss and accuracy per epoch, train and validation, one colour per run.

    ``history``: long table with columns ``run, epoch, metric ("loss"/"accuracy"), split ("train"/"valid"), value``.
    """
    import plotly.express as px  # 0.1 s to import: only the Compare page needs it

    fig = px.line(history, x="epoch", y="value", color="run", line_dash="split", facet_col="metric",
                  markers=True, category_orders={"metric": ["loss", "accuracy"], "split": ["train", "valid"]},
                  color_discrete_sequence=RUN_COLOURS)
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(height=380, margin=_MARGIN, legend_title_text="")
    return fig


def f1_bars(per_genre: pd.DataFrame) -> go.Figure:
    """Grouped bars of per-genre F1: columns ``genre, run, f1``."""
    import plotly.express as px

    fig = px.bar(per_genre, x="genre", y="f1", color="run", barmode="group", color_discrete_sequence=RUN_COLOURS)
    fig.update_layout(height=360, margin=_MARGIN, yaxis=dict(range=[0, 1], title="F1 (song level)"),
                      legend_title_text="")
    return fig


def learning_curve(curve: pd.DataFrame, *, x_title: str, y_title: str, title: str) -> go.Figure:
    """A study's learning curve: mean ± std over seeds per point, one line per setting, chance as a dotted line.

    ``curve``: :func:`core.analysis.compare.study_curve` rows (``line, x, x_label, mean, std, n_seeds, chance``).
    """
    fig = go.Figure()
    for i, (line, part) in enumerate(curve.groupby("line", sort=False)):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["mean"], name=line, mode="lines+markers", line=dict(color=colour),
            error_y=dict(type="data", array=part["std"].fillna(0.0), visible=True),
            customdata=np.stack([part["x_label"], part["std"].fillna(0.0), part["n_seeds"]], axis=1),
            hovertemplate="%{customdata[0]}: %{y:.1%} ± %{customdata[1]:.1%} (%{customdata[2]} seeds)<extra></extra>"))
    points = curve.drop_duplicates("x").sort_values("x")
    fig.add_trace(go.Scatter(x=points["x"], y=points["chance"], name="chance (1 / genres)", mode="lines",
                             line=dict(color="#94a3b8", dash="dot")))
    fig.update_layout(title=title, height=420, margin=_MARGIN, legend_title_text="",
                      xaxis=dict(title=x_title, tickvals=points["x"],
                                 ticktext=points["x_label"].str.split(":").str[0]),
                      yaxis=dict(title=y_title, tickformat=".0%", range=[0, 1.02]))
    return fig
