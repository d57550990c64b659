"""One module per exchange wire format the simulator speaks."""
