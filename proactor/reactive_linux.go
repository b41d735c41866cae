package proactor

func defaultReactive() Kind { return Epoll }
