def greet(name):
    print('hello', name)


def bye():
    print('goodbye')
