// Finite-difference gradient check: compares autograd's vector-Jacobian products with
// float64 central differences, as torch.autograd.gradcheck does.
namespace Recurrent.Autograd;

/// <summary>Numerical check of analytic gradients (float64 inputs), as <c>torch.autograd.gradcheck</c>.</summary>
public static class GradCheck
{
    /// <summary>
    /// Returns null when every gradient of <c>sum(f(inputs) * w)</c> (w random, fixed) matches
    /// central differences within <c>atol + rtol * |numeric|</c>; otherwise a description of the first mismatch.
    /// </summary>
    public static string? Check(Func<Tensor[], Tensor[]> f, Tensor[] inputs, double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3, ulong seed = 1)
    {
        foreach (var x in inputs)
            if (x.RequiresGrad && x.DType != DType.Float64)
                return $"gradcheck expects float64 inputs, got {Tensor.DTypeName(x.DType)}";
        var gen = new Generator(seed);
        Tensor[] weights;
        {
            Tensor[] outs;
            using (new NoGrad()) outs = f(inputs);
            weights = outs.Select(o => Tensor.Randn(o.ShapeRef, o.DType, gen)).ToArray();
        }
        double Objective()
        {
            using var _ = new NoGrad();
            var outs = f(inputs);
            double s = 0;
            for (int i = 0; i < outs.Length; i++)
                if (outs[i].IsFloatingPoint) s += outs[i].Detach().Mul(weights[i]).Sum().ToDouble();
            return s;
        }

        foreach (var x in inputs) x.Grad = null;
        var res = f(inputs);
        Tensor? total = null;
        for (int i = 0; i < res.Length; i++)
        {
            if (!res[i].RequiresGrad) continue;
            var term = res[i].Mul(weights[i]).Sum();
            total = total is null ? term : total.Add(term);
        }
        if (total is null) return "no output requires grad";
        total.Backward();

        for (int xi = 0; xi < inputs.Length; xi++)
        {
            var x = inputs[xi];
            if (!x.RequiresGrad) continue;
            if (!x.IsContiguous) return $"input {xi} must be contiguous";
            var data = x.Arr<double>();
            var analytic = x.Grad?.ToArray<double>() ?? new double[x.Numel];
            for (int i = 0; i < x.Numel; i++)
            {
                int o = x.Offset + i;
                double keep = data[o];
                data[o] = keep + eps; double plus = Objective();
                data[o] = keep - eps; double minus = Objective();
                data[o] = keep;
                double numeric = (plus - minus) / (2 * eps);
                if (Math.Abs(numeric - analytic[i]) > atol + rtol * Math.Abs(numeric))
                    return $"gradient mismatch for input {xi} element {i}: numeric {numeric:R}, analytic {analytic[i]:R}";
            }
        }
        return null;
    }
}
