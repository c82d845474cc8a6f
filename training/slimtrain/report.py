"""The accuracy table: JSON for the adaptive controller (adapt/accuracy_table.hpp reads it), Markdown for people,
and a plot of accuracy against bytes per frame for each ensemble size."""
import json
import math
import re
import os
from typing import Dict, List, Optional

kFrameOverhead = 48 + 4  # wire header + CRC trailer (docs/wire-format.md)


def payload_bytes(values: int, bits: int) -> int:
    return (values * bits + 7) // 8


def _r(v: float, nd: int = 2):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), nd)


def _class_scores(r: dict) -> dict:
    """major_map (classes with >= 10 reference objects) and AP per class name, where the evaluator gave them."""
    if "per_class" not in r:
        return {}
    return {"major_map": _r(r.get("major_map")), "per_class": _named(r["per_class"])}


def _named(per_class: dict, value=_r) -> dict:
    from .centernet import kCocoClasses
    return {kCocoClasses[int(c)]: value(v) for c, v in sorted(per_class.items(), key=lambda kv: int(kv[0]))}


def build_table(info: dict, rows: List[dict], ablation: Optional[List[dict]], calibration: Dict[str, float],
                bottleneck_values: int, mmacs_per_member: float) -> dict:
    """rows/ablation: evaluator rows {'s', 'b' (None = fp32), 'map', 'ap50', 'tap_nmse'}."""
    def configs(rs):
        out = []
        for r in rs:
            if r["b"] is None:
                continue
            pb = payload_bytes(bottleneck_values, r["b"])
            out.append({"s": r["s"], "b": r["b"], "accuracy": _r(r["map"]), **_class_scores(r),
                        "ap50": _r(r.get("ap50")), "tap_nmse": _r(r["tap_nmse"], 5), "bytes": pb + kFrameOverhead,
                        "payload_bytes": pb, "encoder_mmacs": _r(mmacs_per_member * r["s"], 1)})
        return out

    def fp32(rs):
        return [{"s": r["s"], "accuracy": _r(r["map"]), **_class_scores(r), "ap50": _r(r.get("ap50")),
                 "tap_nmse": _r(r["tap_nmse"], 5), "bytes": 4 * bottleneck_values} for r in rs if r["b"] is None]

    table = {
        "source": info["source"],
        "metric": info["metric"],
        "units": "percent",
        "scale": info["scale"],
        "reference": info["reference"],
        "configurations": configs(rows),
        "unquantized_reference": {"note": "fp32 bottleneck (no quantization); not an operating point on the wire",
                                  "configurations": fp32(rows)},
        "calibration": {k: (_named(v, int if k == "objects_per_class" else _r) if isinstance(v, dict) else _r(v))
                        for k, v in calibration.items()},
        "quantizer": info["quantizer"],
        "training": info["training"],
    }
    if ablation is not None:
        table["ablation_no_noise"] = {"note": "same training without noise regularization (fp32 bottleneck while "
                                              "training), evaluated with the same quantizer",
                                      "configurations": configs(ablation), "unquantized": fp32(ablation)}
    return table


def parse_fit_log(text: str) -> Dict[tuple, float]:
    """(s, b) -> held-out codec-1 ratio (coded / bit-packed payload) from slimcodec-fit-entropy-tables' output."""
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 7 and all(re.fullmatch(r"[0-9.]+", v) for v in f):
            out[(int(f[0]), int(f[1]))] = float(f[6])
    return out


def add_coded_bytes(table: dict, ratios: Dict[tuple, float], command: str) -> dict:
    """Codec-1 bytes per operating point beside its accuracy: the held-out ratio that the fitting tool measured,
    applied to this table's payload (codec 0 where codec 1 is not smaller, as the device chooses)."""
    for c in table["configurations"]:
        r = ratios.get((c["s"], c["b"]))
        if r is not None:
            c["codec1_ratio"] = r
            c["codec1_bytes"] = int(round(min(1.0, r) * c["payload_bytes"])) + kFrameOverhead
    table["codec1"] = {"command": command, "note": "ratio measured on the held-out images at the tool's 384x384 "
                       "encoder input (6x96x96 bottleneck), applied to this table's payload"}
    return table


def _curve_keys(curve: List[dict]) -> List[str]:
    return [k for k in curve[0] if re.fullmatch(r"s\d+b\d+", k)]


def _measure(row: dict, key: str):
    if key == "person":
        return (row.get("per_class") or {}).get("person")
    return row.get(key)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def markdown(table: dict, title: str) -> str:
    sizes = sorted({c["s"] for c in table["configurations"]})
    bits = sorted({c["b"] for c in table["configurations"]}, reverse=True)
    fp = table["unquantized_reference"]["configurations"]
    abl = table.get("ablation_no_noise")
    lines = [f"# {title}", "", table["source"], "",
             f"Metric: {table['metric']} against {table['reference']}. Scale: **{table['scale']}**.", ""]
    if table["scale"].startswith("smoke"):
        t = table["training"]
        lines += [f"> These numbers come from {t.get('noise_steps')} training steps on {t.get('train_images')} images, "
                  f"scored on {t.get('heldout_images')} images with {t.get('reference_objects')} reference objects: "
                  "they show that the pipeline runs end to end, and say nothing about the model's accuracy.", ""]
    head = "| encoder | MMACs | fp32 | " + " | ".join(f"{b} bit" for b in bits) + " |"
    sep = "|---|---:|---:|" + "---:|" * len(bits)
    cal = table["calibration"]
    measures = [("accuracy", f"all-class {table['metric']}")]
    if any("major_map" in c for c in table["configurations"]):
        counts = cal.get("objects_per_class") or {}
        major = ", ".join(f"{k} {v}" for k, v in counts.items() if v >= 10)
        measures += [("major_map", f"major_map (mean AP over the classes with at least 10 reference objects: {major})"),
                     ("person", "person AP")]
    for label, cfgs, unq in [(table.get("main_label", "main run"), table["configurations"], fp)] + (
            [("no regularization (ablation)", abl["configurations"], abl["unquantized"])] if abl else []):
        for key, what in measures:
            lines += [f"**{label}**: {what}", "", head, sep]
            for s in sizes:
                mm = next(c["encoder_mmacs"] for c in table["configurations"] if c["s"] == s)
                f32 = next((_fmt(_measure(u, key)) for u in unq if u["s"] == s), "")
                lines.append(f"| s={s} | {mm} | {f32} | " +
                             " | ".join(_fmt(_measure(c, key)) for b in bits for c in cfgs if c["s"] == s and c["b"] == b)
                             + " |")
            lines.append("")
    by_bits = {}
    for c in table["configurations"]:
        by_bits[c["b"]] = c["bytes"]
    lines += ["Bytes per frame (payload + 52-byte header and CRC): " +
              ", ".join(f"{b} bit: {by_bits[b]:,}" for b in sorted(by_bits)) + ".", ""]
    if table.get("codec1"):
        lines += ["Codec-1 (entropy-coded) bytes per frame, held-out mean (ratio to bit-packing); " +
                  table["codec1"]["note"] + ":", "", "| encoder | " + " | ".join(f"{b} bit" for b in bits) + " |",
                  "|---|" + "---:|" * len(bits)]
        for s in sizes:
            cells = [next((f"{c['codec1_bytes']:,} ({c['codec1_ratio']:.3f})" for c in table["configurations"]
                           if c["s"] == s and c["b"] == b and "codec1_bytes" in c), "") for b in bits]
            lines.append(f"| s={s} | " + " | ".join(cells) + " |")
        lines += ["", "Command: `" + table["codec1"]["command"] + "`", ""]
    half_major = cal.get("teacher_half_resolution_major_map")
    half_person = (cal.get("teacher_half_resolution_per_class") or {}).get("person")
    lines += [f"Calibration, same code path: teacher on the frame itself {cal.get('teacher_fp32')}, "
              f"teacher on the frame after a round trip through the student's input resolution "
              f"{cal.get('teacher_half_resolution')}" +
              (f" (major_map {half_major}, person AP {half_person})" if half_major is not None else "") + ".", ""]
    curve = table.get("learning_curve") or []
    if curve:
        keys = _curve_keys(curve)
        lines += ["Learning curve (held-out all-class mAP / major_map / tap NMSE; training time excludes these "
                  "evaluations; the command that produced each point is in the JSON):", "",
                  "| step | core-hours | " + " | ".join(k.replace("s", "s=", 1).replace("b", " b=") for k in keys) + " |",
                  "|---:|---:|" + "---:|" * len(keys)]
        for pt in curve:
            hours = pt.get("core_hours", pt["train_seconds"] / 3600)
            lines.append(f"| {pt['step']} | {hours:.2f} | " + " | ".join(
                f"{pt[k]['map']:.1f} / {_fmt(pt[k].get('major_map'))} / {pt[k]['tap_nmse']:.3f}" for k in keys) + " |")
        lines.append("")
    for g in table.get("crop_gap") or []:
        lines += [f"Crop phase to whole views at step {g['step']}: probe loss on whole views " +
                  ", ".join(f"s={k} {v:.3f}" for k, v in g["whole_views"].items()) +
                  "; on crops of the same views, inside the margin " +
                  ", ".join(f"s={k} {v:.3f}" for k, v in g["crops"].items()) + ".", ""]
    t = table["training"]
    lines += ["Training: " + ", ".join(f"{k} {v}" for k, v in t.items() if not isinstance(v, (dict, list))), ""]
    if table.get("command"):
        lines += ["Command: `" + table["command"] + "`", ""]
    return "\n".join(lines)


def plot(table: dict, path: str, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curve = table.get("learning_curve") or []
    if curve:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
        for k in _curve_keys(curve):
            major = all(p[k].get("major_map") is not None for p in curve)
            ax2.plot([p.get("core_hours", p["train_seconds"] / 3600) for p in curve],
                     [p[k]["major_map"] if major else p[k]["map"] for p in curve], "o-",
                     label=k.replace("s", "s=", 1).replace("b", ", b="))
        ax2.set_xlabel("training core-hours")
        ax2.set_ylabel("major_map (held-out)" if major else table["metric"] + " (held-out)")
        ax2.set_title("learning curve", fontsize=10)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    sizes = sorted({c["s"] for c in table["configurations"]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, s in enumerate(sizes):
        pts = sorted((c["bytes"], c["accuracy"]) for c in table["configurations"] if c["s"] == s)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colors[i % len(colors)], label=f"s={s}")
        abl = table.get("ablation_no_noise")
        if abl:
            pts = sorted((c["bytes"], c["accuracy"]) for c in abl["configurations"] if c["s"] == s)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "x--", color=colors[i % len(colors)], alpha=0.6,
                    label="without noise regularization (dashed)" if i == 0 else None)
    ax.set_xlabel("bytes per frame")
    ax.set_ylabel(table["metric"])
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def rewrite(json_path: str, title: str) -> Dict[str, str]:
    """Markdown and plot again from a table's JSON (after a change to this file)."""
    with open(json_path) as f:
        table = json.load(f)
    return write_all(table, json_path[:-len(".json")], title)


def write_all(table: dict, out_prefix: str, title: str) -> Dict[str, str]:
    os.makedirs(os.path.dirname(os.path.abspath(out_prefix)), exist_ok=True)
    files = {"json": out_prefix + ".json", "md": out_prefix + ".md", "png": out_prefix + ".png"}
    with open(files["json"], "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    with open(files["md"], "w") as f:
        f.write(markdown(table, title))
    plot(table, files["png"], title)
    return files
