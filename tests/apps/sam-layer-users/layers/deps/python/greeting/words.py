def hello_to(name):
    return f"hello, {name}"
