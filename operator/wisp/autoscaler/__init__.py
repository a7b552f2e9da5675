"""wisp's autoscaler: pure scaling math (``decider``), the traffic samples it reads (``meter``,
``window``), and the loop that applies its decisions through the gateway's Backend (``loop``)."""
