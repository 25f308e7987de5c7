"""Transport-free core of the control plane: job states, store, scheduler, controller."""
