PRODUCTS = {"p1": "teapot", "p2": "kettle"}
