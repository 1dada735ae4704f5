"""防形式主义: integrity flags on visits and check-ins, review queue, 随机抽查 (spot checks)."""
