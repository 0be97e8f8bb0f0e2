"""Mutants of companion/keypoint_regression.py: the metric, the head's layout, the losses, training."""

TARGET = "companion/keypoint_regression.py"
TESTS = ["tests/test_keypoint_regression.py"]
MUTANTS = [
    (
        "MPJPE averages squared distances",
        "        target = target - target[:, root : root + 1]\n"
        "    return (pred - target).norm(dim=-1).mean()\n",
        "        target = target - target[:, root : root + 1]\n"
        "    return (pred - target).pow(2).sum(dim=-1).mean()\n",
    ),
    (
        "MPJPE is a per-coordinate mean absolute error",
        "        target = target - target[:, root : root + 1]\n"
        "    return (pred - target).norm(dim=-1).mean()\n",
        "        target = target - target[:, root : root + 1]\n"
        "    return (pred - target).abs().mean()\n",
    ),
    (
        "root-relative MPJPE translates only the prediction",
        "        target = target - target[:, root : root + 1]\n"
        "    return (pred - target).norm(dim=-1).mean()\n",
        "    return (pred - target).norm(dim=-1).mean()\n",
    ),
    (
        "root-relative MPJPE subtracts the mean joint instead of the root",
        "        pred = pred - pred[:, root : root + 1]  # (B, J, D) - (B, 1, D)\n"
        "        target = target - target[:, root : root + 1]\n"
        "    return (pred - target).norm(dim=-1).mean()\n",
        "        pred = pred - pred.mean(dim=1, keepdim=True)  # (B, J, D) - (B, 1, D)\n"
        "        target = target - target.mean(dim=1, keepdim=True)\n"
        "    return (pred - target).norm(dim=-1).mean()\n",
    ),
    (
        "per-joint error averaged over joints instead of the batch",
        "    return (pred - target).norm(dim=-1).mean(dim=0)",
        "    return (pred - target).norm(dim=-1).mean(dim=1)",
    ),
    (
        "the answer's RMSE sums the coordinates of each joint (it is then a per-joint RMSE)",
        "    return ((pred - target) ** 2).mean().sqrt()",
        "    return ((pred - target) ** 2).sum(dim=-1).mean().sqrt()",
    ),
    (
        "per-keypoint RMSE averages the coordinates instead of summing them",
        "    return ((pred - target) ** 2).sum(dim=-1).mean(dim=0).sqrt()",
        "    return ((pred - target) ** 2).mean(dim=-1).mean(dim=0).sqrt()",
    ),
    (
        "the RMSE loss forgets its square root",
        "        return F.mse_loss(pred, target).sqrt()",
        "        return F.mse_loss(pred, target)",
    ),
    (
        "the head reads joint-major output with the coordinate-major view",
        "            return flat.view(b, self.num_joints, self.dims)  # (B, J*D) -> (B, J, D)",
        "            return flat.view(b, self.dims, self.num_joints).transpose(1, 2)  # (B, J, D)",
    ),
    (
        "the coordinate-major head forgets the transpose (view(B, J, D) of x-first numbers)",
        "        return flat.view(b, self.dims, self.num_joints).transpose(1, 2)  # (B, D*J) -> (B, J, D)",
        "        return flat.view(b, self.num_joints, self.dims)  # (B, D*J) -> (B, J, D)",
    ),
    (
        "to_coordinate_major copies the rows without permuting them",
        "    index = torch.arange(j * d).view(j, d).T.reshape(-1)  # (J, D) -> (D, J) -> (D*J,)",
        "    index = torch.arange(j * d)  # (J*D,)",
    ),
    (
        "to_coordinate_major permutes the weights but not the bias",
        "        out.linear.bias.copy_(head.linear.bias[index])",
        "        out.linear.bias.copy_(head.linear.bias)",
    ),
    (
        "the regressor forgets to add the target mean back",
        "        return self.head(self.features(images)) * self.target_spread + self.target_mean",
        "        return self.head(self.features(images)) * self.target_spread",
    ),
    (
        "soft-argmax cells mapped to input pixels with the corner convention (no half-cell offset)",
        "        return self.stride * cells + (self.stride - 1) / 2",
        "        return self.stride * cells",
    ),
    (
        "training never sets the target statistics",
        '    if hasattr(model, "set_target_stats"):\n        model.set_target_stats(train_targets)\n',
        "",
    ),
    (
        "training does not stop on a non-finite loss",
        '        history.train_loss.append(check_finite_loss(value.detach(), "loss", step - 1))',
        "        history.train_loss.append(float(value.detach()))",
    ),
    (
        "the batch sampler is not seeded",
        "    generator = torch.Generator().manual_seed(seed)\n",
        "    generator = torch.Generator()\n    generator.seed()\n",
    ),
]
