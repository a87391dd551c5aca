"""What only the task demos (tests/N-main.py) print: the classic epoch line
and the verdict against the exercise's published outputs."""


def epoch_line(epoch, cost, accuracy, valid_cost, valid_accuracy):
    """The classic exercise's line after each epoch."""
    return ("After {} epochs: {} cost, {} accuracy, {} validation cost, {} "
            "validation accuracy".format(epoch, cost, accuracy, valid_cost,
                                         valid_accuracy))


def published_verdict(task, output):
    """One line comparing a demo's exercise output with the published one."""
    from lenet.exercise import compare
    verdict, detail = compare(task, output)
    return "published output of the exercise's {}-main.py: {}{}".format(
        task, verdict, " ({})".format(detail) if detail else "")
