"""Driven by TestModelsWithStockMLflowClient: the stock mlflow client on one
side, tandem's CLI on the other, against one tandem region.

  save DIR             write a pyfunc model folder to DIR
  load URI             mlflow.pyfunc.load_model(URI), predict, print the result
  log NAME             log a pyfunc model in a run and register it as NAME
"""
import sys

import mlflow
import mlflow.pyfunc


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x + 1 for x in model_input]


def main():
    cmd = sys.argv[1]
    if cmd == "save":
        mlflow.pyfunc.save_model(sys.argv[2], python_model=AddOne())
    elif cmd == "load":
        m = mlflow.pyfunc.load_model(sys.argv[2])
        print("prediction", list(m.predict([1, 2, 3])))
    elif cmd == "log":
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=AddOne(), registered_model_name=sys.argv[2])
        print("registered", sys.argv[2])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
