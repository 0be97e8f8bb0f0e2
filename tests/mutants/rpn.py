"""Mutants of companion/rpn.py: each one is a bug a reader could plausibly write, one per claim."""

TARGET = "companion/rpn.py"
TESTS = ["tests/test_rpn.py"]
MUTANTS = [
    (
        "aspect ratio read as w / h instead of h / w",
        "    ws = (sizes_t[None, :] / h_ratio[:, None]).reshape(-1)  # (R, S) -> (A,) ratio-major",
        "    ws = (sizes_t[None, :] * h_ratio[:, None]).reshape(-1)  # (R, S) -> (A,) ratio-major",
    ),
    (
        "anchor corners not rounded (torchvision rounds them)",
        "    base = (torch.stack((-ws, -hs, ws, hs), dim=1) / 2).round()  # (A, 4)",
        "    base = torch.stack((-ws, -hs, ws, hs), dim=1) / 2  # (A, 4)",
    ),
    (
        "anchors centred in the stride cell (Caffe) instead of at its corner (torchvision)",
        "    xs = torch.arange(width, dtype=dtype, device=device) * stride  # (W,)",
        "    xs = (torch.arange(width, dtype=dtype, device=device) + 0.5) * stride  # (W,)",
    ),
    (
        "IoU union forgets to subtract the intersection",
        "    union = area_a[..., :, None] + area_b[..., None, :] - inter  # (..., N, M)",
        "    union = area_a[..., :, None] + area_b[..., None, :]  # (..., N, M)",
    ),
    (
        "positive threshold exclusive (IoU > 0.7) instead of torchvision's >= 0.7",
        "    labels = torch.where(best >= fg_iou, 1, labels)",
        "    labels = torch.where(best > fg_iou, 1, labels)",
    ),
    (
        "the highest-IoU rule dropped: small boxes get no positive",
        "        labels = torch.where(forced, 1, labels)",
        "        labels = labels",
    ),
    (
        "zero-IoU boxes force positives (torchvision's behaviour)",
        "(iou == box_best) & (box_best > 0) & mask[:, None, :]",
        "(iou == box_best) & mask[:, None, :]",
    ),
    (
        "only one best anchor per box (ties dropped)",
        "        forced = ((iou == box_best) & (box_best > 0) & mask[:, None, :]).any(dim=2)  # (B, N)",
        "        first = torch.arange(n)[None, :, None] == iou.argmax(dim=1, keepdim=True)\n"
        "        forced = (first & (box_best > 0) & mask[:, None, :]).any(dim=2)  # (B, N)",
    ),
    (
        "positives not capped at batch_size * positive_fraction",
        "    num_pos = pos.sum(dim=1).clamp(max=int(batch_size * positive_fraction))  # (R,)",
        "    num_pos = pos.sum(dim=1).clamp(max=batch_size)  # (R,)",
    ),
    (
        "negatives fixed at half the batch instead of filling it",
        "    num_neg = torch.minimum(neg.sum(dim=1), batch_size - num_pos)  # (R,)",
        "    num_neg = neg.sum(dim=1).clamp(max=batch_size - int(batch_size * positive_fraction))",
    ),
    (
        "sample not random: always the first anchors",
        "    keys = torch.rand(labels.shape, generator=generator, device=labels.device)  # (R, N)",
        "    keys = torch.linspace(1, 0, labels.shape[1], device=labels.device).expand(labels.shape)",
    ),
    (
        "per-type sampling gives each type the whole budget",
        "    pos, neg = _sample_rows(by_type, batch_size // num_types, positive_fraction, generator)",
        "    pos, neg = _sample_rows(by_type, batch_size, positive_fraction, generator)",
    ),
    (
        "box sizes with the legacy +1 (x2 - x1 + 1)",
        "    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]",
        "    w, h = boxes[..., 2] - boxes[..., 0] + 1, boxes[..., 3] - boxes[..., 1] + 1",
    ),
    (
        "decode without torchvision's clamp of the log-size offsets",
        "    w = torch.exp(deltas[..., 2].clamp(max=BBOX_XFORM_CLIP)) * wa",
        "    w = torch.exp(deltas[..., 2]) * wa",
    ),
    (
        "box loss averaged over positives instead of over the sample",
        "        / sampled.numel()",
        "        / max(pos_idx.numel(), 1)",
    ),
    (
        "smooth-L1 with beta 1 (Fast R-CNN) instead of torchvision's RPN beta 1/9",
        "SMOOTH_L1_BETA = 1.0 / 9.0",
        "SMOOTH_L1_BETA = 1.0",
    ),
    (
        "box loss also on negatives",
        '        deltas[pos_idx], regression_targets[pos_idx], beta=SMOOTH_L1_BETA, reduction="sum"',
        '        deltas[sampled], regression_targets[sampled], beta=SMOOTH_L1_BETA, reduction="sum"',
    ),
    (
        "NMS suppresses at IoU >= threshold instead of >",
        "    suppresses = ((iou > iou_threshold) & earlier & alive[..., :, None]).to(iou.dtype)",
        "    suppresses = ((iou >= iou_threshold) & earlier & alive[..., :, None]).to(iou.dtype)",
    ),
    (
        "NMS lets suppressed boxes suppress others",
        "        hits = (keep.to(iou.dtype).unsqueeze(-2) @ suppresses).squeeze(-2)  # (..., n)",
        "        hits = (alive.to(iou.dtype).unsqueeze(-2) @ suppresses).squeeze(-2)  # (..., n)",
    ),
    (
        "proposals keep degenerate (zero-size) boxes",
        "    keep = _nms_keep_sorted(box_iou(boxes, boxes), nms_iou, big)  # (B, k)",
        "    keep = _nms_keep_sorted(box_iou(boxes, boxes), nms_iou, torch.ones_like(big))",
    ),
    (
        "recall counts every proposal, not the top k",
        "    at_k = best_so_far[:, torch.tensor(ks) - 1, :]  # (B, K, M)",
        "    at_k = best_so_far[:, [p - 1] * len(ks), :]  # (B, K, M)",
    ),
    (
        "box channels read as (4, A) instead of torchvision's (A, 4)",
        "        boxes = boxes.view(b, a, 4, h, w)  # (B, 4A, H', W') -> (B, A, 4, H', W')",
        "        boxes = boxes.view(b, 4, a, h, w).transpose(1, 2)  # wrong channel layout",
    ),
]
