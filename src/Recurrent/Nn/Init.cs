// Parameter initialisation, as torch.nn.init: in-place fills (no autograd) with uniform,
// normal and constant values, and the fan-based rules (kaiming, xavier) PyTorch's layers use.
using System.Numerics.Tensors;

namespace Recurrent.Nn;

/// <summary>In-place initialisers for parameters, as <c>torch.nn.init</c>. Each returns the tensor it filled.</summary>
public static class Init
{
    /// <summary>Fills with U(low, high), as <c>nn.init.uniform_</c>.</summary>
    public static Tensor Uniform_(Tensor tensor, double low = 0, double high = 1, Generator? generator = null)
    {
        Guard.NotNull(tensor, nameof(tensor));
        Guard.Floating(tensor, nameof(tensor));
        using (new NoGrad()) tensor.Copy_(Tensor.Uniform(tensor.Shape, low, high, tensor.DType, generator));
        return tensor;
    }

    /// <summary>Fills with N(mean, std²), as <c>nn.init.normal_</c>.</summary>
    public static Tensor Normal_(Tensor tensor, double mean = 0, double std = 1, Generator? generator = null)
    {
        Guard.NotNull(tensor, nameof(tensor));
        Guard.Floating(tensor, nameof(tensor));
        using (new NoGrad())
        {
            var r = Tensor.Randn(tensor.Shape, tensor.DType, generator);
            if (std != 1) r.Mul_(std);
            if (mean != 0) r.Add_(Tensor.Scalar(mean, tensor.DType));
            tensor.Copy_(r);
        }
        return tensor;
    }

    /// <summary>Fills with <paramref name="value"/>, as <c>nn.init.constant_</c>.</summary>
    public static Tensor Constant_(Tensor tensor, double value)
    {
        Guard.NotNull(tensor, nameof(tensor));
        using (new NoGrad()) tensor.Fill_(value);
        return tensor;
    }

    /// <summary>Fills with zeros, as <c>nn.init.zeros_</c>.</summary>
    public static Tensor Zeros_(Tensor tensor) => Constant_(tensor, 0);

    /// <summary>Fills with ones, as <c>nn.init.ones_</c>.</summary>
    public static Tensor Ones_(Tensor tensor) => Constant_(tensor, 1);

    /// <summary>(fan_in, fan_out) of a weight of at least 2 dims, as <c>nn.init._calculate_fan_in_and_fan_out</c>.</summary>
    public static (int FanIn, int FanOut) CalculateFanInAndFanOut(Tensor tensor)
    {
        Guard.NotNull(tensor, nameof(tensor));
        if (tensor.Dim < 2)
            throw new ArgumentException("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions", nameof(tensor));
        int receptive = 1;
        for (int i = 2; i < tensor.Dim; i++) receptive *= tensor.Size(i);
        return (tensor.Size(1) * receptive, tensor.Size(0) * receptive);
    }

    /// <summary>The recommended gain for a nonlinearity, as <c>nn.init.calculate_gain</c>.</summary>
    public static double CalculateGain(string nonlinearity, double? param = null) => nonlinearity switch
    {
        "linear" or "conv1d" or "conv2d" or "conv3d" or "sigmoid" => 1.0,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2.0),
        "leaky_relu" => Math.Sqrt(2.0 / (1 + Math.Pow(param ?? 0.01, 2))),
        "selu" => 3.0 / 4,
        _ => throw new ArgumentException($"Unsupported nonlinearity {nonlinearity}", nameof(nonlinearity)),
    };

    /// <summary>
    /// Kaiming-He uniform fill U(-b, b) with b = gain * sqrt(3 / fan), as <c>nn.init.kaiming_uniform_</c>.
    /// With <c>a = sqrt(5)</c> and fan_in (what nn.Linear uses) b = 1/sqrt(fan_in).
    /// </summary>
    public static Tensor KaimingUniform_(Tensor tensor, double a = 0, string mode = "fan_in", string nonlinearity = "leaky_relu", Generator? generator = null)
    {
        Guard.NotNull(tensor, nameof(tensor));
        if (tensor.Numel == 0)
        {
            // PyTorch's first check: a warning, and nothing drawn from the generator.
            Warnings.Warn("Initializing zero-element tensors is a no-op");
            return tensor;
        }
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        int fan = mode switch
        {
            "fan_in" => fanIn,
            "fan_out" => fanOut,
            _ => throw new ArgumentException($"Mode {mode} not supported, please use one of fan_in, fan_out", nameof(mode)),
        };
        double bound = Math.Sqrt(3.0) * CalculateGain(nonlinearity, a) / Math.Sqrt(fan);
        return Uniform_(tensor, -bound, bound, generator);
    }

    /// <summary>
    /// Fills with a (semi-)orthogonal matrix times <paramref name="gain"/>, as <c>nn.init.orthogonal_</c> (Saxe et al.
    /// 2013), the usual initialisation of recurrent weights: the tensor is viewed as (size(0), rest); a normal random
    /// matrix of that shape (transposed when it is wide) is factored Q R, Q's columns are signed so that R's diagonal is
    /// positive, and Q (transposed back) fills it. So the rows are orthonormal when there are no more rows than columns,
    /// the columns otherwise. An empty tensor is left as it is.
    /// </summary>
    /// <example><code>
    /// foreach (var (name, p) in lstm.NamedParameters())
    ///     if (name.StartsWith("weight_hh")) Init.Orthogonal_(p);
    /// </code></example>
    /// <exception cref="ArgumentException">The tensor has fewer than 2 dimensions, or is not floating point.</exception>
    public static Tensor Orthogonal_(Tensor tensor, double gain = 1, Generator? generator = null)
    {
        Guard.NotNull(tensor, nameof(tensor));
        Guard.Floating(tensor, nameof(tensor));
        if (tensor.Dim < 2)
            throw new ArgumentException($"Only tensors with 2 or more dimensions are supported, but got shape {Guard.ShapeText(tensor.ShapeRef)}", nameof(tensor));
        if (tensor.Numel == 0) return tensor;
        int rows = tensor.Size(0), cols = tensor.Numel / rows;
        bool wide = rows < cols;
        int m = wide ? cols : rows, n = wide ? rows : cols;   // the factored matrix: m x n, m >= n
        var a = Tensor.Randn([m, n], DType.Float64, generator).ToArray<double>();
        var q = OrthonormalColumns(a, m, n);
        var filled = new double[rows * cols];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                filled[wide ? j * cols + i : i * cols + j] = q[i * n + j] * gain;
        using (new NoGrad()) tensor.Copy_(Tensor.FromArray(filled, tensor.Shape).To(tensor.DType));
        return tensor;
    }

    // Q of A = Q R (A: m x n row-major, m >= n) with R's diagonal positive: Gram-Schmidt, each column orthogonalised
    // twice against the ones before it ("twice is enough", Giraud et al.), in float64 on columns held contiguous. That
    // Q is the one Householder QR gives once its columns are multiplied by the signs of R's diagonal, which is
    // PyTorch's recipe. Returns Q row-major.
    private static double[] OrthonormalColumns(double[] a, int m, int n)
    {
        var cols = new double[(long)n * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) cols[(long)j * m + i] = a[i * n + j];
        for (int j = 0; j < n; j++)
        {
            var cj = cols.AsSpan(j * m, m);
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++)
                {
                    var ck = cols.AsSpan(k * m, m);
                    TensorPrimitives.MultiplyAdd(ck, -TensorPrimitives.Dot(ck, cj), cj, cj);
                }
            double norm = TensorPrimitives.Norm(cj);
            // A normal random matrix has full rank with probability 1; a column that vanished is left at zero.
            if (norm > 0) TensorPrimitives.Divide(cj, norm, cj);
        }
        var q = new double[(long)m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) q[i * n + j] = cols[(long)j * m + i];
        return q;
    }

    /// <summary>Glorot uniform fill U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)), as <c>nn.init.xavier_uniform_</c>.</summary>
    public static Tensor XavierUniform_(Tensor tensor, double gain = 1, Generator? generator = null)
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        double bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Uniform_(tensor, -bound, bound, generator);
    }
}
