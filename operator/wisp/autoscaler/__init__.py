"""wisp's autoscaler: pure scaling math (``decider``), the traffic samples it reads (``meter``,
``window``), and the loop that applies its decisions (``loop``) through the port it owns
(``port.Scaler``: the gateway's ``Backend`` is one)."""
