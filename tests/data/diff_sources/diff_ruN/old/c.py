print('gone')
