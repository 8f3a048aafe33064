"""Reference implementations and adapters the suite ships: the manual loop, torch.nn on CPU and CUDA."""
